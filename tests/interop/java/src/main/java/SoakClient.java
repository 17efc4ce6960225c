import com.alibaba.nacos.api.PropertyKeyConst;
import com.alibaba.nacos.api.config.ConfigFactory;
import com.alibaba.nacos.api.config.ConfigService;
import com.alibaba.nacos.api.config.listener.AbstractListener;
import com.alibaba.nacos.api.naming.NamingFactory;
import com.alibaba.nacos.api.naming.NamingService;
import com.alibaba.nacos.api.naming.listener.Event;
import com.alibaba.nacos.api.naming.listener.NamingEvent;
import com.alibaba.nacos.api.naming.pojo.Instance;

import java.io.FileOutputStream;
import java.io.FileDescriptor;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

/**
 * Long-running Nacos naming client built on the official Java SDK (nacos-client),
 * used unchanged, for cluster fault tests against Nocas.
 *
 * <p>Environment: NOCAS_SERVERS (host:httpPort,...; gRPC = httpPort+1000),
 * NOCAS_SERVICE (group DEFAULT_GROUP, namespace public), NOCAS_IP, NOCAS_PORT,
 * optional NOCAS_WORKDIR (SDK snapshot/log dir; default a new temp dir),
 * optional NOCAS_DATA_ID (a config of group DEFAULT_GROUP to listen to).
 *
 * <p>Stdout carries only JSON lines: {"event":"registered","t":ms},
 * {"event":"view","t":ms,"ports":[...]} and, with NOCAS_DATA_ID,
 * {"event":"config","t":ms,"content":"..."}. SDK logs go to stderr. SIGTERM/SIGINT:
 * deregister, then exit 0.
 */
public final class SoakClient {
    private static final String GROUP = "DEFAULT_GROUP";
    private static final String CLUSTER = "DEFAULT";

    /** The real stdout; System.out is pointed at stderr so nothing else lands on it. */
    private static final PrintStream OUT =
            new PrintStream(new FileOutputStream(FileDescriptor.out), false, StandardCharsets.UTF_8);

    private static synchronized void emit(String line) {
        OUT.print(line);
        OUT.print('\n');
        OUT.flush();
    }

    private static String env(String name) {
        String v = System.getenv(name);
        if (v == null || v.isBlank()) {
            die("environment variable " + name + " is required");
        }
        return v.trim();
    }

    private static void die(String msg) {
        System.err.println("soak-client: " + msg);
        System.err.flush();
        Runtime.getRuntime().halt(1);
    }

    public static void main(String[] args) throws Exception {
        String servers = env("NOCAS_SERVERS");
        String service = env("NOCAS_SERVICE");
        String ip = env("NOCAS_IP");
        int port = Integer.parseInt(env("NOCAS_PORT"));

        String wd = System.getenv("NOCAS_WORKDIR");
        Path workDir = (wd == null || wd.isBlank())
                ? Files.createTempDirectory("soak-client-java-")
                : Files.createDirectories(Path.of(wd));
        System.err.println("soak-client: SDK snapshot/log dir " + workDir);

        // Anything the SDK (or a library) prints with System.out goes to stderr.
        System.setOut(System.err);

        // Must be set before any SDK class is loaded.
        setDefault("org.slf4j.simpleLogger.logFile", "System.err");
        setDefault("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        setDefault("org.slf4j.simpleLogger.showDateTime", "true");
        setDefault("org.slf4j.simpleLogger.dateTimeFormat", "HH:mm:ss.SSS");
        setDefault("JM.LOG.PATH", workDir.resolve("logs").toString());
        setDefault("JM.SNAPSHOT.PATH", workDir.resolve("snapshot").toString());
        setDefault("nacos.logging.default.config.enabled", "false");
        setDefault("com.alibaba.nacos.naming.log.level", "warn");
        setDefault("com.alibaba.nacos.config.log.level", "warn");

        Properties props = new Properties();
        props.setProperty(PropertyKeyConst.SERVER_ADDR, servers);
        props.setProperty(PropertyKeyConst.NAMING_LOAD_CACHE_AT_START, "false");
        props.setProperty(PropertyKeyConst.NAMING_PUSH_EMPTY_PROTECTION, "false");

        NamingService naming = NamingFactory.createNamingService(props);

        Instance instance = new Instance();
        instance.setIp(ip);
        instance.setPort(port);
        instance.setWeight(1.0);
        instance.setHealthy(true);
        instance.setEnabled(true);
        instance.setEphemeral(true);
        instance.setClusterName(CLUSTER);

        // An application retries its first registration (a loaded registry
        // may time out), with backoff, for up to a minute.
        long deadline = System.currentTimeMillis() + 60_000;
        long backoff = 200;
        while (true) {
            try {
                naming.registerInstance(service, GROUP, instance);
                break;
            } catch (Exception e) {
                if (System.currentTimeMillis() > deadline) {
                    e.printStackTrace();
                    die("register instance failed: " + e);
                }
                System.err.println("soak-client: register failed, retrying: " + e);
                Thread.sleep(backoff);
                backoff = Math.min(backoff * 2, 2_000);
            }
        }
        emit("{\"event\":\"registered\",\"t\":" + System.currentTimeMillis() + "}");

        naming.subscribe(service, GROUP, (Event event) -> {
            if (!(event instanceof NamingEvent)) {
                return;
            }
            List<Integer> ports = new ArrayList<>();
            List<Instance> instances = ((NamingEvent) event).getInstances();
            if (instances != null) {
                for (Instance in : instances) {
                    ports.add(in.getPort());
                }
            }
            Collections.sort(ports);
            StringBuilder sb = new StringBuilder("{\"event\":\"view\",\"t\":")
                    .append(System.currentTimeMillis()).append(",\"ports\":[");
            for (int i = 0; i < ports.size(); i++) {
                if (i > 0) {
                    sb.append(',');
                }
                sb.append(ports.get(i));
            }
            emit(sb.append("]}").toString());
        });

        String dataId = System.getenv("NOCAS_DATA_ID");
        if (dataId != null && !dataId.isBlank()) {
            ConfigService config = ConfigFactory.createConfigService(props);
            config.addListener(dataId.trim(), GROUP, new AbstractListener() {
                @Override
                public void receiveConfigInfo(String content) {
                    emit("{\"event\":\"config\",\"t\":" + System.currentTimeMillis()
                            + ",\"content\":" + jsonString(content) + "}");
                }
            });
        }

        CountDownLatch stop = new CountDownLatch(1);
        sun.misc.SignalHandler handler = sig -> {
            System.err.println("soak-client: got SIG" + sig.getName() + ", deregistering");
            stop.countDown();
        };
        sun.misc.Signal.handle(new sun.misc.Signal("TERM"), handler);
        sun.misc.Signal.handle(new sun.misc.Signal("INT"), handler);
        stop.await();

        Thread shutdown = new Thread(() -> {
            try {
                naming.deregisterInstance(service, GROUP, instance);
            } catch (Exception e) {
                System.err.println("soak-client: deregister failed: " + e);
            }
            try {
                naming.shutDown();
            } catch (Exception e) {
                System.err.println("soak-client: shutdown failed: " + e);
            }
        }, "soak-shutdown");
        shutdown.setDaemon(true);
        shutdown.start();
        shutdown.join(10_000);
        if (shutdown.isAlive()) {
            System.err.println("soak-client: deregister timed out");
        }
        System.err.flush();
        // halt: skip SDK shutdown hooks that may block; the client is already closed.
        Runtime.getRuntime().halt(0);
    }

    private static String jsonString(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                sb.append('\\').append(c);
            } else if (c < 0x20) {
                sb.append(String.format("\\u%04x", (int) c));
            } else {
                sb.append(c);
            }
        }
        return sb.append('"').toString();
    }

    private static void setDefault(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }
}
