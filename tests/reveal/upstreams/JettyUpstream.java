// A reveal upstream on Jetty 9.4 (Debian's libjetty9-java), over TLS with a PKCS12 keystore the test
// makes: `java JettyUpstream KEYSTORE PASSWORD`. The same three servlets as TomcatUpstream.java: "route" at
// /api/v1/*, "internal" at /internal/* (a reveal request must never reach it), "default" at /; each request
// printed as `SEEN <servlet> <request URI> <body, base64>` before it is answered. Prints `LISTENING <port>`.
// Started by tests/reveal/test_reveal_java_upstreams.py.
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

import javax.servlet.http.HttpServlet;
import javax.servlet.http.HttpServletRequest;
import javax.servlet.http.HttpServletResponse;

import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.eclipse.jetty.servlet.ServletContextHandler;
import org.eclipse.jetty.servlet.ServletHolder;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

public class JettyUpstream {
    static final class Echo extends HttpServlet {
        private final String name;

        Echo(String name) {
            this.name = name;
        }

        @Override
        protected void service(HttpServletRequest request, HttpServletResponse response) throws IOException {
            byte[] body = request.getInputStream().readAllBytes();
            String uri = request.getRequestURI();
            synchronized (System.out) {
                System.out.println("SEEN " + name + " " + uri + " " + Base64.getEncoder().encodeToString(body));
                System.out.flush();
            }
            response.setStatus(200);
            response.setContentType("application/json");
            String text = new String(body, StandardCharsets.UTF_8).replace("\\", "\\\\").replace("\"", "\\\"");
            String answer = "{\"servlet\": \"" + name + "\", \"body\": \"" + text + "\"}";
            response.getOutputStream().write(answer.getBytes(StandardCharsets.UTF_8));
        }
    }

    public static void main(String[] args) throws Exception {
        Server server = new Server(new QueuedThreadPool(16, 2));
        SslContextFactory.Server tls = new SslContextFactory.Server();
        tls.setKeyStorePath(args[0]);
        tls.setKeyStorePassword(args[1]);
        tls.setKeyStoreType("PKCS12");
        ServerConnector connector = new ServerConnector(
            server, new SslConnectionFactory(tls, "http/1.1"), new HttpConnectionFactory(new HttpConfiguration()));
        connector.setHost("127.0.0.1");
        connector.setPort(0);
        server.addConnector(connector);
        ServletContextHandler context = new ServletContextHandler();
        context.setContextPath("/");
        context.addServlet(new ServletHolder(new Echo("route")), "/api/v1/*");
        context.addServlet(new ServletHolder(new Echo("internal")), "/internal/*");
        context.addServlet(new ServletHolder(new Echo("default")), "/");
        server.setHandler(context);
        server.start();
        System.out.println("LISTENING " + connector.getLocalPort());
        System.out.flush();
        server.join();
    }
}
