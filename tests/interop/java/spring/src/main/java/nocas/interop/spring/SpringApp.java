package nocas.interop.spring;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.cloud.context.config.annotation.RefreshScope;
import org.springframework.http.MediaType;
import org.springframework.stereotype.Component;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * Minimal Spring Cloud Alibaba application: registers itself in Nacos discovery as
 * "spring-app" and imports config dataId "spring-app.properties" (DEFAULT_GROUP) with
 * refresh. GET /message returns the current value of demo.message; GET /health returns ok.
 */
@SpringBootApplication
public class SpringApp {

    public static void main(String[] args) {
        SpringApplication.run(SpringApp.class, args);
    }

    /** Re-created on every refresh event, so it always sees the latest demo.message. */
    @Component
    @RefreshScope
    public static class Message {
        private final String value;

        public Message(@Value("${demo.message:unset}") String value) {
            this.value = value;
        }

        public String get() {
            return value;
        }
    }

    @RestController
    public static class Endpoints {
        private final Message message;

        public Endpoints(Message message) {
            this.message = message;
        }

        @GetMapping(value = "/message", produces = MediaType.TEXT_PLAIN_VALUE)
        public String message() {
            return message.get();
        }

        @GetMapping(value = "/health", produces = MediaType.TEXT_PLAIN_VALUE)
        public String health() {
            return "ok";
        }
    }
}
