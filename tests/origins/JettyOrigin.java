// Java servlets on Jetty 9.4 (Debian's libjetty9-java), no jar beyond Jetty and the servlet API.
// Forms: request.getParameterMap() (Jetty's own decoding, flat names); multipart: request.getParts() with a
// MultipartConfigElement on the servlet (Part.getName(), Part.getSubmittedFileName()), the text parts read
// through getParameterMap() as a servlet or Spring's binder does; JSON: Jetty's own parser
// (org.eclipse.jetty.util.ajax.JSON) over request.getReader(), which decodes with the Content-Type charset.
// Canonical answer: see common.py. Compiled and started by tests/fixtures_origins.py.
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import javax.servlet.MultipartConfigElement;
import javax.servlet.http.HttpServlet;
import javax.servlet.http.HttpServletRequest;
import javax.servlet.http.HttpServletResponse;
import javax.servlet.http.Part;

import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.servlet.ServletContextHandler;
import org.eclipse.jetty.servlet.ServletHolder;
import org.eclipse.jetty.util.ajax.JSON;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

public class JettyOrigin extends HttpServlet {
    /** One [path, value] or [path, filename, content] entry of the canonical answer. */
    private static final class Entry {
        final List<String> path;
        final String[] rest;

        Entry(List<String> path, String... rest) {
            this.path = path;
            this.rest = rest;
        }
    }

    static String quote(String s) {
        StringBuilder out = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20 || Character.isSurrogate(c)) {
                // lone surrogates are escaped as such; a pair is escaped as two, which JSON readers rejoin
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('"').toString();
    }

    static String encode(List<Entry> entries) {
        StringBuilder out = new StringBuilder("[");
        for (int i = 0; i < entries.size(); i++) {
            Entry e = entries.get(i);
            out.append(i == 0 ? "[" : ",[").append('[');
            for (int j = 0; j < e.path.size(); j++) {
                out.append(j == 0 ? "" : ",").append(quote(e.path.get(j)));
            }
            out.append(']');
            for (String r : e.rest) {
                out.append(',').append(quote(r));
            }
            out.append(']');
        }
        return out.append(']').toString();
    }

    static String utf8(byte[] bytes) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPLACE)
                .onUnmappableCharacter(CodingErrorAction.REPLACE)
                .decode(java.nio.ByteBuffer.wrap(bytes))
                .toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Every scalar of a JSON document under its path; Jetty's JSON gives Map, Object[], String, Number, Boolean. */
    static void walk(List<String> path, Object value, List<Entry> out) {
        if (value instanceof Map) {
            for (Map.Entry<?, ?> item : ((Map<?, ?>) value).entrySet()) {
                List<String> next = new ArrayList<>(path);
                next.add(String.valueOf(item.getKey()));
                walk(next, item.getValue(), out);
            }
        } else if (value instanceof Object[]) {
            Object[] items = (Object[]) value;
            for (int i = 0; i < items.length; i++) {
                List<String> next = new ArrayList<>(path);
                next.add(Integer.toString(i));
                walk(next, items[i], out);
            }
        } else if (value instanceof String) {
            out.add(new Entry(path, (String) value));
        } else {
            out.add(new Entry(path, String.valueOf(value)));  // numbers, true/false, null
        }
    }

    static void reply(HttpServletResponse response, int status, String body) throws java.io.IOException {
        response.setStatus(status);
        response.setContentType("application/json");
        byte[] data = body.getBytes(StandardCharsets.UTF_8);
        response.setContentLength(data.length);
        response.getOutputStream().write(data);
    }

    static void params(HttpServletRequest request, List<Entry> fields) {
        for (Map.Entry<String, String[]> item : request.getParameterMap().entrySet()) {
            for (String v : item.getValue()) {
                fields.add(new Entry(List.of(item.getKey()), v));
            }
        }
    }

    @Override
    protected void service(HttpServletRequest request, HttpServletResponse response) throws java.io.IOException {
        String type = request.getContentType() == null ? "" : request.getContentType();
        String media = type.split(";", 2)[0].trim().toLowerCase(java.util.Locale.ROOT);
        List<Entry> fields = new ArrayList<>();
        List<Entry> files = new ArrayList<>();
        try {
            if (media.equals("application/x-www-form-urlencoded")) {
                params(request, fields);
            } else if (media.equals("multipart/form-data")) {
                for (Part part : request.getParts()) {
                    if (part.getSubmittedFileName() != null) {
                        byte[] content;
                        try (InputStream in = part.getInputStream()) {
                            ByteArrayOutputStream buffer = new ByteArrayOutputStream();
                            in.transferTo(buffer);
                            content = buffer.toByteArray();
                        }
                        files.add(new Entry(List.of(part.getName()), part.getSubmittedFileName(), utf8(content)));
                    }
                }
                params(request, fields);  // the text parts, decoded by Jetty (part charset, else UTF-8)
            } else if (media.equals("application/json")) {
                walk(new ArrayList<>(), JSON.parse(request.getReader()), fields);
            } else {
                reply(response, 415, "{\"error\": \"not read\"}");
                return;
            }
        } catch (Exception e) {
            String message = e.toString();
            reply(response, 400, "{\"error\": " + quote(message.substring(0, Math.min(500, message.length()))) + "}");
            return;
        }
        reply(response, 200, "{\"fields\": " + encode(fields) + ", \"files\": " + encode(files) + "}");
    }

    public static void main(String[] args) throws Exception {
        Server server = new Server(new QueuedThreadPool(16, 4));
        ServerConnector connector = new ServerConnector(server, 1, 1);
        connector.setHost("127.0.0.1");
        connector.setPort(0);
        server.addConnector(connector);
        ServletContextHandler context = new ServletContextHandler();
        context.setContextPath("/");
        ServletHolder holder = new ServletHolder(new JettyOrigin());
        String uploads = Files.createTempDirectory("jetty-origin").toString();  // under TMPDIR (the fixture's)
        holder.getRegistration().setMultipartConfig(new MultipartConfigElement(uploads));
        context.addServlet(holder, "/*");
        server.setHandler(context);
        server.start();
        System.out.println("LISTENING " + connector.getLocalPort());
        System.out.flush();
        server.join();
    }
}
