// A reveal upstream on embedded Tomcat 10.1 (Debian's libtomcat10-java), over TLS with a PKCS12 keystore
// the test makes: `java TomcatUpstream KEYSTORE PASSWORD BASEDIR`. Three servlets, each echoing what it got:
// "route" at /api/v1/* (a reveal route's upstream path), "internal" at /internal/* (outside it: a reveal
// request must never reach it), "default" at / (anything else). Each request is printed as one line
// `SEEN <servlet> <request URI> <body, base64>` before it is answered. Prints `LISTENING <port>`.
// Started by tests/reveal/test_reveal_java_upstreams.py.
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

import org.apache.catalina.Context;
import org.apache.catalina.connector.Connector;
import org.apache.catalina.startup.Tomcat;
import org.apache.tomcat.util.net.SSLHostConfig;
import org.apache.tomcat.util.net.SSLHostConfigCertificate;

public class TomcatUpstream {
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
        Tomcat tomcat = new Tomcat();
        tomcat.setBaseDir(args[2]);
        Connector connector = new Connector("HTTP/1.1");
        connector.setPort(0);
        connector.setProperty("address", "127.0.0.1");
        connector.setScheme("https");
        connector.setSecure(true);
        connector.setProperty("SSLEnabled", "true");
        SSLHostConfig host = new SSLHostConfig();
        SSLHostConfigCertificate certificate =
            new SSLHostConfigCertificate(host, SSLHostConfigCertificate.Type.UNDEFINED);
        certificate.setCertificateKeystoreFile(new File(args[0]).getAbsolutePath());
        certificate.setCertificateKeystorePassword(args[1]);
        certificate.setCertificateKeystoreType("PKCS12");
        host.addCertificate(certificate);
        connector.addSslHostConfig(host);
        tomcat.setConnector(connector);
        Context context = tomcat.addContext("", new File(args[2]).getAbsolutePath());
        for (String[] mapping : new String[][] {{"route", "/api/v1/*"}, {"internal", "/internal/*"}, {"default", "/"}}) {
            Tomcat.addServlet(context, mapping[0], new Echo(mapping[0]));
            context.addServletMappingDecoded(mapping[1], mapping[0]);
        }
        tomcat.start();
        if (connector.getLocalPort() < 0) {  // the TLS connector failed (Tomcat logs why and carries on)
            System.err.println("the TLS connector did not start");
            System.exit(3);
        }
        System.out.println("LISTENING " + connector.getLocalPort());
        System.out.flush();
        tomcat.getServer().await();
    }
}
