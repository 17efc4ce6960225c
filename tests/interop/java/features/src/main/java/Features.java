import com.alibaba.nacos.api.NacosFactory;
import com.alibaba.nacos.api.PropertyKeyConst;
import com.alibaba.nacos.api.config.ConfigService;
import com.alibaba.nacos.api.config.listener.Listener;
import com.alibaba.nacos.api.exception.NacosException;
import com.alibaba.nacos.api.naming.NamingService;
import com.alibaba.nacos.api.naming.listener.Event;
import com.alibaba.nacos.api.naming.listener.EventListener;
import com.alibaba.nacos.api.naming.listener.NamingEvent;
import com.alibaba.nacos.api.naming.pojo.Instance;
import com.alibaba.nacos.api.naming.pojo.ListView;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * An interop feature test of the official Nacos Java SDK (com.alibaba.nacos:nacos-client),
 * used unchanged, against a single Nocas (or Nacos) server: naming, config and namespace
 * isolation; with the 3.x client also config and naming fuzzy watch and the distributed
 * lock. The same source is built against nacos-client 2.x and 3.x (see pom.xml); the steps
 * of one client line only are in {@code LineFeatures}, one per line (src/main/nacos-2,
 * src/main/nacos-3).
 *
 * <p>Environment:
 * <ul>
 *   <li>NOCAS_ADDR: host:httpPort of the server (gRPC = httpPort+1000), required;</li>
 *   <li>NOCAS_USERNAME / NOCAS_PASSWORD: optional; given to the SDK as its username/password
 *       properties (so it logs in), and used for the plain-HTTP namespace creation;</li>
 *   <li>NOCAS_TEST_ID: optional unique suffix for the namespace, services and data ids
 *       (default: derived from time and pid);</li>
 *   <li>NOCAS_SDK_LOG_LEVEL: optional SDK log level on stderr (default warn; debug shows the
 *       gRPC requests the SDK sends);</li>
 *   <li>NOCAS_KEEP_WORKDIR: optional; if set, keep the SDK work dir after a pass.</li>
 * </ul>
 *
 * <p>Stdout carries only one line per step, {@code PASS: <name>} or
 * {@code FAIL: <name> -- <reason>}, then {@code RESULT: PASS} (exit 0) or {@code RESULT: FAIL}
 * (exit 1). Each step has a 15 s timeout; a watchdog ends the run with exit code 2 after
 * 150 s. Everything else (SDK logs, details) goes to stderr.
 */
public final class Features {
    private static final long STEP_TIMEOUT_MS = 15_000;
    static final long PUSH_TIMEOUT_MS = 5_000;
    private static final long WATCHDOG_MS = 150_000;
    static final String GROUP = "DEFAULT_GROUP";
    static final String CONFIG_GROUP = "JAVA_FEAT";
    private static final String CLUSTER = "DEFAULT";
    private static final String IP = "127.0.0.1";

    /** The real stdout; System.out is pointed at stderr so nothing else lands on it. */
    private static final PrintStream OUT =
            new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
    private static final Object OUT_LOCK = new Object();
    private static volatile boolean failed;
    private static Path workDir;

    private static final ExecutorService STEPS = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "features-step");
        t.setDaemon(true);
        return t;
    });

    /** A failed expectation; its message is the step's reason. */
    static final class Fail extends Exception {
        Fail(String msg) {
            super(msg);
        }
    }

    @FunctionalInterface
    interface Body {
        void run() throws Exception;
    }

    private static void say(String line) {
        synchronized (OUT_LOCK) {
            OUT.println(line);
            OUT.flush();
        }
    }

    static void info(String msg) {
        System.err.println("features: " + msg);
        System.err.flush();
    }

    private static String describe(Throwable e) {
        if (e instanceof Fail) {
            return e.getMessage();
        }
        StringBuilder sb = new StringBuilder(e.toString());
        Throwable c = e.getCause();
        for (int i = 0; c != null && c != e && i < 3; i++, c = c.getCause()) {
            sb.append(" / caused by ").append(c);
        }
        return sb.toString();
    }

    /** Runs body with a timeout and prints its result line. A timed-out body is left behind. */
    static boolean step(String name, Body body) {
        info("step " + name);
        Future<?> f = STEPS.submit(() -> {
            body.run();
            return null;
        });
        String reason = null;
        try {
            f.get(STEP_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            reason = "timed out after " + STEP_TIMEOUT_MS / 1000 + " s";
        } catch (ExecutionException e) {
            Throwable c = e.getCause() != null ? e.getCause() : e;
            if (!(c instanceof Fail)) {
                c.printStackTrace();
            }
            reason = describe(c);
        } catch (InterruptedException e) {
            reason = "interrupted";
        }
        synchronized (OUT_LOCK) {
            if (reason != null) {
                failed = true;
                say("FAIL: " + name + " -- " + reason.replace('\n', ' '));
                return false;
            }
            say("PASS: " + name);
            return true;
        }
    }

    // ------------------------------------------------------------------ HTTP side

    private static final HttpClient HTTP =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    private static String form(Map<String, String> m) {
        return m.entrySet().stream().map(e -> enc(e.getKey()) + "=" + enc(e.getValue()))
                .collect(Collectors.joining("&"));
    }

    private static HttpResponse<String> post(String url, Map<String, String> body) throws Exception {
        HttpRequest req = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString(form(body))).build();
        return HTTP.send(req, HttpResponse.BodyHandlers.ofString());
    }

    private static HttpResponse<String> get(String url) throws Exception {
        HttpRequest req = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).GET().build();
        return HTTP.send(req, HttpResponse.BodyHandlers.ofString());
    }

    private static String jsonString(String json, String key) {
        Matcher m = Pattern.compile("\"" + Pattern.quote(key) + "\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"").matcher(json);
        return m.find() ? m.group(1) : null;
    }

    static final class Server {
        final String addr;
        final String base;
        final String username;
        final String password;

        Server(String addr, String username, String password) {
            this.addr = addr;
            this.base = "http://" + addr + "/nacos";
            this.username = username;
            this.password = password;
        }

        boolean auth() {
            return username != null;
        }

        /** An access token from POST /nacos/v1/auth/login, or null without credentials. */
        String login() throws Exception {
            if (!auth()) {
                return null;
            }
            Map<String, String> body = new LinkedHashMap<>();
            body.put("username", username);
            body.put("password", password);
            HttpResponse<String> r = post(base + "/v1/auth/login", body);
            if (r.statusCode() != 200) {
                throw new Fail("POST /nacos/v1/auth/login: HTTP " + r.statusCode() + ": " + r.body());
            }
            String token = jsonString(r.body(), "accessToken");
            if (token == null || token.isEmpty()) {
                throw new Fail("POST /nacos/v1/auth/login: no accessToken in " + r.body());
            }
            return token;
        }

        void createNamespace(String id) throws Exception {
            String token = login();
            Map<String, String> body = new LinkedHashMap<>();
            body.put("customNamespaceId", id);
            body.put("namespaceName", id);
            body.put("namespaceDesc", "nacos-client (Java) feature test");
            String q = "";
            if (token != null) {
                body.put("accessToken", token);
                q = "?accessToken=" + enc(token);
            }
            HttpResponse<String> r = post(base + "/v1/console/namespaces", body);
            if (r.statusCode() != 200 || !r.body().trim().equals("true")) {
                throw new Fail("POST /nacos/v1/console/namespaces: HTTP " + r.statusCode() + ": \""
                        + r.body() + "\" (want 200 \"true\")");
            }
            HttpResponse<String> l = get(base + "/v1/console/namespaces" + q);
            if (l.statusCode() != 200) {
                throw new Fail("GET /nacos/v1/console/namespaces: HTTP " + l.statusCode() + ": " + l.body());
            }
            if (!l.body().contains("\"namespace\":\"" + id + "\"")) {
                throw new Fail("namespace " + id + " created but not listed by GET /nacos/v1/console/namespaces: "
                        + l.body());
            }
        }

        /** GET /nacos/v1/cs/configs?show=all: the stored config's details (JSON). */
        String configDetail(String dataId, String group, String tenant) throws Exception {
            String token = login();
            String url = base + "/v1/cs/configs?show=all&dataId=" + enc(dataId) + "&group=" + enc(group)
                    + "&tenant=" + enc(tenant) + (token != null ? "&accessToken=" + enc(token) : "");
            HttpResponse<String> r = get(url);
            if (r.statusCode() != 200) {
                throw new Fail("GET /nacos/v1/cs/configs?show=all: HTTP " + r.statusCode() + ": " + r.body());
            }
            return r.body();
        }
    }

    // ------------------------------------------------------------------ SDK side

    static Properties clientProps(Server s, String namespace, String name) throws IOException {
        Properties p = new Properties();
        p.setProperty(PropertyKeyConst.SERVER_ADDR, s.addr);
        if (namespace != null) {
            p.setProperty(PropertyKeyConst.NAMESPACE, namespace);
        }
        if (s.auth()) {
            p.setProperty(PropertyKeyConst.USERNAME, s.username);
            p.setProperty(PropertyKeyConst.PASSWORD, s.password);
        }
        p.setProperty(PropertyKeyConst.NAMING_LOAD_CACHE_AT_START, "false");
        p.setProperty(PropertyKeyConst.NAMING_PUSH_EMPTY_PROTECTION, "false");
        // Per-client cache dir, so no client reads another's (or an earlier run's) snapshot.
        Path cache = Files.createDirectories(workDir.resolve(name));
        p.setProperty("JM.SNAPSHOT.PATH", cache.toString());
        return p;
    }

    // ------------------------------------------------------------------ helpers

    static Instance inst(int port, boolean ephemeral, Map<String, String> meta) {
        Instance i = new Instance();
        i.setIp(IP);
        i.setPort(port);
        i.setWeight(1.0);
        i.setHealthy(true);
        i.setEnabled(true);
        i.setEphemeral(ephemeral);
        i.setClusterName(CLUSTER);
        if (meta != null) {
            i.setMetadata(new HashMap<>(meta));
        }
        return i;
    }

    private static List<Integer> ports(List<Instance> in) {
        List<Integer> out = new ArrayList<>();
        if (in != null) {
            for (Instance i : in) {
                out.add(i.getPort());
            }
        }
        Collections.sort(out);
        return out;
    }

    private static boolean samePorts(List<Instance> in, Integer... want) {
        List<Integer> w = new ArrayList<>(Arrays.asList(want));
        Collections.sort(w);
        return ports(in).equals(w);
    }

    private static Instance findPort(List<Instance> in, int port) {
        if (in != null) {
            for (Instance i : in) {
                if (i.getPort() == port) {
                    return i;
                }
            }
        }
        return null;
    }

    private static String show(Instance i) {
        return i.getIp() + ":" + i.getPort() + "{healthy=" + i.isHealthy() + ",enabled=" + i.isEnabled()
                + ",weight=" + i.getWeight() + ",ephemeral=" + i.isEphemeral() + ",cluster=" + i.getClusterName()
                + ",metadata=" + i.getMetadata() + "}";
    }

    /** Collects the instance lists of the NamingEvents a listener receives. */
    static final class Pushes implements EventListener {
        final BlockingQueue<List<Instance>> q = new LinkedBlockingQueue<>();

        @Override
        public void onEvent(Event event) {
            if (!(event instanceof NamingEvent)) {
                info("listener: non-naming event " + event);
                return;
            }
            NamingEvent e = (NamingEvent) event;
            List<Instance> in = e.getInstances() == null ? List.of() : new ArrayList<>(e.getInstances());
            info("push: service " + e.getGroupName() + "@@" + e.getServiceName() + " ports " + ports(in));
            q.add(in);
        }

        void drain() {
            q.clear();
        }

        void await(String what, java.util.function.Predicate<List<Instance>> ok) throws Exception {
            long start = System.nanoTime();
            long deadline = start + TimeUnit.MILLISECONDS.toNanos(PUSH_TIMEOUT_MS);
            List<List<Integer>> seen = new ArrayList<>();
            while (true) {
                long left = deadline - System.nanoTime();
                List<Instance> in = left > 0 ? q.poll(left, TimeUnit.NANOSECONDS) : null;
                if (in == null) {
                    throw new Fail("no NamingEvent with " + what + " within " + PUSH_TIMEOUT_MS / 1000
                            + " s (events seen, as port lists: " + seen + ")");
                }
                if (ok.test(in)) {
                    info(what + ": event after " + (System.nanoTime() - start) / 1_000_000 + " ms");
                    return;
                }
                seen.add(ports(in));
            }
        }
    }

    /** Calls check every intervalMs until it succeeds or timeoutMs passes; rethrows its last failure. */
    static void until(long timeoutMs, long intervalMs, Body check) throws Exception {
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (true) {
            try {
                check.run();
                return;
            } catch (Exception e) {
                if (System.currentTimeMillis() >= deadline) {
                    throw e;
                }
            }
            Thread.sleep(intervalMs);
        }
    }

    private static String md5(String s) throws Exception {
        byte[] d = MessageDigest.getInstance("MD5").digest(s.getBytes(StandardCharsets.UTF_8));
        StringBuilder sb = new StringBuilder();
        for (byte b : d) {
            sb.append(String.format("%02x", b));
        }
        return sb.toString();
    }

    static String q(String s) {
        return s == null ? "null" : "\"" + s.replace("\n", "\\n") + "\"";
    }

    private static void setDefault(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }

    private static String env(String name) {
        String v = System.getenv(name);
        return v == null || v.isBlank() ? null : v.trim();
    }

    private static void finish(int code) {
        System.err.flush();
        OUT.flush();
        // halt: skip SDK shutdown hooks that may block.
        Runtime.getRuntime().halt(code);
    }

    // ------------------------------------------------------------------ main

    public static void main(String[] args) throws Exception {
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(WATCHDOG_MS);
            } catch (InterruptedException e) {
                return;
            }
            synchronized (OUT_LOCK) {
                say("FAIL: watchdog -- run did not finish within " + WATCHDOG_MS / 1000 + " s");
                say("RESULT: FAIL");
            }
            info("watchdog fired; work dir kept: " + workDir);
            finish(2);
        }, "features-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();

        String addr = env("NOCAS_ADDR");
        if (addr == null) {
            info("environment variable NOCAS_ADDR (host:httpPort) is required");
            finish(1);
        }
        final String id = env("NOCAS_TEST_ID") != null ? env("NOCAS_TEST_ID")
                : System.currentTimeMillis() / 1000 + "-" + ProcessHandle.current().pid();
        workDir = Files.createTempDirectory("nocas-java-features-");

        // Anything the SDK (or a library) prints with System.out goes to stderr.
        System.setOut(System.err);
        // Must be set before any SDK class is loaded.
        String level = env("NOCAS_SDK_LOG_LEVEL") == null ? "warn" : env("NOCAS_SDK_LOG_LEVEL");
        setDefault("org.slf4j.simpleLogger.logFile", "System.err");
        setDefault("org.slf4j.simpleLogger.defaultLogLevel", level);
        setDefault("org.slf4j.simpleLogger.showDateTime", "true");
        setDefault("org.slf4j.simpleLogger.dateTimeFormat", "HH:mm:ss.SSS");
        if ("warn".equalsIgnoreCase(level)) {
            // nacos-client 3.x warns that its logback adapter cannot load (logback is not on
            // the class path: slf4j-simple is the binding here); that is expected.
            setDefault("org.slf4j.simpleLogger.log.com.alibaba.nacos.client.logging.NacosLogging", "error");
        }
        setDefault("JM.LOG.PATH", workDir.resolve("logs").toString());
        setDefault("JM.SNAPSHOT.PATH", workDir.resolve("snapshot").toString());
        setDefault("nacos.logging.default.config.enabled", "false");
        setDefault("com.alibaba.nacos.naming.log.level", level);
        setDefault("com.alibaba.nacos.config.log.level", level);

        Server srv = new Server(addr, env("NOCAS_USERNAME"), env("NOCAS_PASSWORD") == null ? "" : env("NOCAS_PASSWORD"));
        info("nacos-client " + com.alibaba.nacos.common.utils.VersionUtils.version + ", server " + addr
                + ", auth " + srv.auth() + ", test id " + id + ", work dir " + workDir);

        final String namespace = "java-" + id;
        final String service = "java-feat-svc-" + id;
        final String persistService = "java-feat-persist-" + id;
        final String dataId = "java-feat-" + id + ".properties";
        final String yamlDataId = "java-feat-" + id + ".yaml";
        final String isoDataId = "java-feat-iso-" + id + ".properties";
        final int port1 = 41001, port2 = 41002, port3 = 41003, port4 = 41004, portP = 41005;

        // -------------------------------------------------------------- 1. setup
        step("namespace.create", () -> srv.createNamespace(namespace));

        NamingService[] ns = new NamingService[3];
        ConfigService[] cs = new ConfigService[2];
        boolean clientsOk = step("clients.create", () -> {
            ns[0] = NacosFactory.createNamingService(clientProps(srv, namespace, "naming1"));
            ns[1] = NacosFactory.createNamingService(clientProps(srv, namespace, "naming2"));
            ns[2] = NacosFactory.createNamingService(clientProps(srv, null, "naming-public"));
            cs[0] = NacosFactory.createConfigService(clientProps(srv, namespace, "config1"));
            cs[1] = NacosFactory.createConfigService(clientProps(srv, null, "config-public"));
            for (NamingService n : ns) {
                if (!"UP".equals(n.getServerStatus())) {
                    throw new Fail("NamingService.getServerStatus() = " + n.getServerStatus() + ", want UP");
                }
            }
            for (ConfigService c : cs) {
                if (!"UP".equals(c.getServerStatus())) {
                    throw new Fail("ConfigService.getServerStatus() = " + c.getServerStatus() + ", want UP");
                }
            }
        });
        if (!clientsOk) {
            say("RESULT: FAIL");
            info("work dir kept: " + workDir);
            finish(1);
        }
        final NamingService naming1 = ns[0], naming2 = ns[1], namingPublic = ns[2];
        final ConfigService config1 = cs[0], configPublic = cs[1];

        // -------------------------------------------------------------- 2. naming
        final Instance i1 = inst(port1, true, Map.of("version", "v1"));
        step("naming.register-instance", () -> naming1.registerInstance(service, GROUP, i1));

        step("naming.select-instances", () -> until(PUSH_TIMEOUT_MS, 200, () -> {
            List<Instance> in = naming1.selectInstances(service, GROUP, true);
            if (!samePorts(in, port1)) {
                throw new Fail("selectInstances(healthy=true): ports " + ports(in) + ", want [" + port1 + "]");
            }
            Instance got = in.get(0);
            if (!IP.equals(got.getIp()) || !got.isHealthy() || !got.isEnabled() || got.getWeight() != 1.0
                    || !got.isEphemeral() || !CLUSTER.equals(got.getClusterName())) {
                throw new Fail("instance fields wrong: " + show(got));
            }
            if (!"v1".equals(got.getMetadata().get("version"))) {
                throw new Fail("instance metadata " + got.getMetadata() + ", want version=v1");
            }
        }));

        step("naming.select-one-healthy-instance", () -> {
            Instance got = naming1.selectOneHealthyInstance(service, GROUP);
            if (got == null || got.getPort() != port1 || !IP.equals(got.getIp())) {
                throw new Fail("selectOneHealthyInstance: " + (got == null ? "null" : show(got)) + ", want "
                        + IP + ":" + port1);
            }
        });

        final Pushes sub = new Pushes();
        step("naming.subscribe", () -> naming1.subscribe(service, GROUP, sub));

        step("naming.push-on-register", () -> {
            sub.drain();
            naming2.registerInstance(service, GROUP, inst(port2, true, Map.of("version", "v2")));
            sub.await("ports [" + port1 + ", " + port2 + "]", in -> samePorts(in, port1, port2));
        });

        step("naming.push-on-deregister", () -> {
            sub.drain();
            naming2.deregisterInstance(service, GROUP, inst(port2, true, null));
            sub.await("ports [" + port1 + "]", in -> samePorts(in, port1));
        });

        step("naming.batch-register-instance", () -> {
            sub.drain();
            naming2.batchRegisterInstance(service, GROUP, List.of(
                    inst(port3, true, Map.of("batch", "1")), inst(port4, true, Map.of("batch", "2"))));
            sub.await("ports [" + port1 + ", " + port3 + ", " + port4 + "]",
                    in -> samePorts(in, port1, port3, port4));
            List<Instance> in = naming1.getAllInstances(service, GROUP);
            Instance b = findPort(in, port4);
            if (b == null || !"2".equals(b.getMetadata().get("batch"))) {
                throw new Fail("batch instance " + port4 + " missing or without metadata batch=2: "
                        + in.stream().map(Features::show).collect(Collectors.toList()));
            }
        });

        step("naming.persistent-instance", () -> {
            Instance p = inst(portP, false, Map.of("kind", "persistent"));
            naming1.registerInstance(persistService, GROUP, p);
            // subscribe=false: asks the server directly, no cache involved.
            until(PUSH_TIMEOUT_MS, 200, () -> {
                List<Instance> in = naming2.selectInstances(persistService, GROUP, true, false);
                Instance got = findPort(in, portP);
                if (got == null) {
                    throw new Fail("persistent instance not listed by selectInstances(healthy=true, subscribe=false): ports "
                            + ports(in));
                }
                if (got.isEphemeral()) {
                    throw new Fail("persistent instance listed with ephemeral=true: " + show(got));
                }
                if (!"persistent".equals(got.getMetadata().get("kind"))) {
                    throw new Fail("persistent instance metadata " + got.getMetadata() + ", want kind=persistent");
                }
            });
            naming1.deregisterInstance(persistService, GROUP, p);
            until(PUSH_TIMEOUT_MS, 200, () -> {
                List<Instance> in = naming2.getAllInstances(persistService, GROUP, false);
                if (findPort(in, portP) != null) {
                    throw new Fail("persistent instance still listed " + PUSH_TIMEOUT_MS / 1000
                            + " s after deregisterInstance: ports " + ports(in));
                }
            });
        });

        step("naming.get-services-of-server", () -> {
            ListView<String> list = naming1.getServicesOfServer(1, 100, GROUP);
            if (list == null || list.getData() == null || !list.getData().contains(service)) {
                throw new Fail("getServicesOfServer(1, 100, " + GROUP + "): " + service + " not in "
                        + (list == null ? null : list.getData()));
            }
            if (list.getCount() < 1) {
                throw new Fail("getServicesOfServer: count " + list.getCount() + " with data " + list.getData());
            }
        });

        step("naming.unsubscribe", () -> {
            naming1.unsubscribe(service, GROUP, sub);
            sub.drain();
            naming2.registerInstance(service, GROUP, inst(port2, true, null));
            List<Instance> in = sub.q.poll(2, TimeUnit.SECONDS);
            if (in != null) {
                throw new Fail("listener called after unsubscribe with ports " + ports(in));
            }
        });

        // -------------------------------------------------------------- 3. config
        final String v1 = "feature.test=v1\nid=" + id;
        final String v2 = "feature.test=v2\nid=" + id;
        final String v3 = "feature.test=v3-cas\nid=" + id;
        final String v4 = "feature.test=v4-bad-cas\nid=" + id;

        step("config.publish", () -> {
            if (!config1.publishConfig(dataId, CONFIG_GROUP, v1)) {
                throw new Fail("publishConfig returned false");
            }
        });

        step("config.get", () -> until(PUSH_TIMEOUT_MS, 300, () -> {
            String got = config1.getConfig(dataId, CONFIG_GROUP, 3000);
            if (!v1.equals(got)) {
                throw new Fail("getConfig: " + q(got) + ", want " + q(v1));
            }
        }));

        final BlockingQueue<String> changes = new LinkedBlockingQueue<>();
        final Listener listener = new Listener() {
            @Override
            public Executor getExecutor() {
                return null;
            }

            @Override
            public void receiveConfigInfo(String configInfo) {
                info("config listener: " + q(configInfo));
                changes.add(configInfo == null ? "" : configInfo);
            }
        };
        step("config.listen", () -> {
            config1.addListener(dataId, CONFIG_GROUP, listener);
            // Let the SDK's first listen round (ConfigBatchListenRequest) reach the server, so
            // the change below arrives by server push (ConfigChangeNotifyRequest).
            Thread.sleep(2000);
            if (!config1.publishConfig(dataId, CONFIG_GROUP, v2)) {
                throw new Fail("publishConfig (new content) returned false");
            }
            long start = System.nanoTime();
            long deadline = start + TimeUnit.MILLISECONDS.toNanos(PUSH_TIMEOUT_MS);
            List<String> seen = new ArrayList<>();
            while (true) {
                long left = deadline - System.nanoTime();
                String got = left > 0 ? changes.poll(left, TimeUnit.NANOSECONDS) : null;
                if (got == null) {
                    throw new Fail("listener got no change to " + q(v2) + " within " + PUSH_TIMEOUT_MS / 1000
                            + " s (got " + seen.stream().map(Features::q).collect(Collectors.toList()) + ")");
                }
                if (got.equals(v2)) {
                    info("config listener got the change after " + (System.nanoTime() - start) / 1_000_000 + " ms");
                    return;
                }
                seen.add(got);
            }
        });

        step("config.publish-cas-right-md5", () -> {
            until(PUSH_TIMEOUT_MS, 300, () -> {
                String got = config1.getConfig(dataId, CONFIG_GROUP, 3000);
                if (!v2.equals(got)) {
                    throw new Fail("getConfig before CAS: " + q(got) + ", want " + q(v2));
                }
            });
            if (!config1.publishConfigCas(dataId, CONFIG_GROUP, v3, md5(v2))) {
                throw new Fail("publishConfigCas with casMd5=md5(current content) returned false");
            }
            until(PUSH_TIMEOUT_MS, 300, () -> {
                String got = config1.getConfig(dataId, CONFIG_GROUP, 3000);
                if (!v3.equals(got)) {
                    throw new Fail("getConfig after CAS: " + q(got) + ", want " + q(v3));
                }
            });
        });

        step("config.publish-cas-wrong-md5", () -> {
            boolean ok;
            try {
                ok = config1.publishConfigCas(dataId, CONFIG_GROUP, v4, md5("not the current content"));
            } catch (NacosException e) {
                info("publishConfigCas with a wrong md5 threw, as it may: " + e);
                ok = false;
            }
            if (ok) {
                throw new Fail("publishConfigCas with a wrong casMd5 returned true");
            }
            Thread.sleep(500);
            String got = config1.getConfig(dataId, CONFIG_GROUP, 3000);
            if (!v3.equals(got)) {
                throw new Fail("getConfig after a failed CAS: " + q(got) + ", want " + q(v3));
            }
        });

        step("config.remove", () -> {
            config1.removeListener(dataId, CONFIG_GROUP, listener);
            if (!config1.removeConfig(dataId, CONFIG_GROUP)) {
                throw new Fail("removeConfig returned false");
            }
            until(PUSH_TIMEOUT_MS, 300, () -> {
                String got = config1.getConfig(dataId, CONFIG_GROUP, 3000);
                if (got != null) {
                    throw new Fail("getConfig after removeConfig: " + q(got) + ", want null");
                }
            });
        });

        step("config.publish-with-type-yaml", () -> {
            String yaml = "feature:\n  test: yaml\n  id: \"" + id + "\"\n";
            if (!config1.publishConfig(yamlDataId, CONFIG_GROUP, yaml, "yaml")) {
                throw new Fail("publishConfig(type=yaml) returned false");
            }
            until(PUSH_TIMEOUT_MS, 300, () -> {
                String got = config1.getConfig(yamlDataId, CONFIG_GROUP, 3000);
                if (!yaml.equals(got)) {
                    throw new Fail("getConfig: " + q(got) + ", want " + q(yaml));
                }
            });
            String detail = srv.configDetail(yamlDataId, CONFIG_GROUP, namespace);
            if (!"yaml".equals(jsonString(detail, "type"))) {
                throw new Fail("GET /nacos/v1/cs/configs?show=all: type " + q(jsonString(detail, "type"))
                        + ", want \"yaml\" (" + detail + ")");
            }
            if (!config1.removeConfig(yamlDataId, CONFIG_GROUP)) {
                throw new Fail("removeConfig (cleanup) returned false");
            }
        });

        // -------------------------------------------------------------- 4. isolation
        step("namespace.isolation-config", () -> {
            String content = "isolated=true\nid=" + id;
            if (!config1.publishConfig(isoDataId, CONFIG_GROUP, content)) {
                throw new Fail("publishConfig in " + namespace + " returned false");
            }
            until(PUSH_TIMEOUT_MS, 300, () -> {
                String got = config1.getConfig(isoDataId, CONFIG_GROUP, 3000);
                if (!content.equals(got)) {
                    throw new Fail("getConfig in " + namespace + ": " + q(got) + ", want " + q(content));
                }
            });
            String got = configPublic.getConfig(isoDataId, CONFIG_GROUP, 3000);
            if (got != null) {
                throw new Fail("config published in " + namespace + " visible from public: " + q(got));
            }
            if (!config1.removeConfig(isoDataId, CONFIG_GROUP)) {
                throw new Fail("removeConfig (cleanup) returned false");
            }
        });

        step("namespace.isolation-naming", () -> {
            List<Instance> in = namingPublic.getAllInstances(service, GROUP, false);
            if (in != null && !in.isEmpty()) {
                throw new Fail("service registered in " + namespace + " visible from public: ports " + ports(in));
            }
            ListView<String> list = namingPublic.getServicesOfServer(1, 1000, GROUP);
            if (list != null && list.getData() != null && list.getData().contains(service)) {
                throw new Fail("service registered in " + namespace + " listed in public: " + list.getData());
            }
        });

        // -------------------------------------------------------------- 5. this client line only
        // (3.x: config and naming fuzzy watch, distributed lock; 2.x: nothing.)
        final List<Body> lineClosers = new ArrayList<>();
        LineFeatures.run(srv, namespace, id, naming1, naming2, config1, lineClosers);

        // -------------------------------------------------------------- cleanup
        Thread closer = new Thread(() -> {
            for (Body c : lineClosers) {
                try {
                    c.run();
                } catch (Exception e) {
                    info("cleanup: " + e);
                }
            }
            try {
                naming1.deregisterInstance(service, GROUP, i1);
                naming2.deregisterInstance(service, GROUP, inst(port2, true, null));
            } catch (Exception e) {
                info("cleanup deregister: " + e);
            }
            for (NamingService n : ns) {
                try {
                    n.shutDown();
                } catch (Exception e) {
                    info("naming shutDown: " + e);
                }
            }
            for (ConfigService c : cs) {
                try {
                    c.shutDown();
                } catch (Exception e) {
                    info("config shutDown: " + e);
                }
            }
        }, "features-close");
        closer.setDaemon(true);
        closer.start();
        closer.join(10_000);
        if (closer.isAlive()) {
            info("closing clients timed out");
        }

        if (failed) {
            say("RESULT: FAIL");
            info("work dir kept: " + workDir);
            finish(1);
        }
        say("RESULT: PASS");
        if (env("NOCAS_KEEP_WORKDIR") != null) {
            info("work dir kept: " + workDir);
        } else {
            deleteTree(workDir);
        }
        finish(0);
    }

    private static void deleteTree(Path root) {
        try (var walk = Files.walk(root)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            info("removing work dir: " + e);
        }
    }
}
