import com.alibaba.nacos.api.config.model.ConfigBasicInfo;
import com.alibaba.nacos.api.config.model.ConfigDetailInfo;
import com.alibaba.nacos.api.config.model.ConfigGrayInfo;
import com.alibaba.nacos.api.config.model.ConfigHistoryBasicInfo;
import com.alibaba.nacos.api.config.model.ConfigHistoryDetailInfo;
import com.alibaba.nacos.api.config.model.ConfigListenerInfo;
import com.alibaba.nacos.api.exception.NacosException;
import com.alibaba.nacos.api.model.Page;
import com.alibaba.nacos.api.model.response.NacosMember;
import com.alibaba.nacos.api.model.response.Namespace;
import com.alibaba.nacos.api.naming.PreservedMetadataKeys;
import com.alibaba.nacos.api.naming.pojo.Instance;
import com.alibaba.nacos.api.naming.pojo.Service;
import com.alibaba.nacos.api.naming.pojo.maintainer.ClusterInfo;
import com.alibaba.nacos.api.naming.pojo.maintainer.InstanceMetadataBatchResult;
import com.alibaba.nacos.api.naming.pojo.maintainer.MetricsInfo;
import com.alibaba.nacos.api.naming.pojo.maintainer.ServiceDetailInfo;
import com.alibaba.nacos.api.naming.pojo.maintainer.ServiceView;
import com.alibaba.nacos.api.naming.pojo.maintainer.SubscriberInfo;
import com.alibaba.nacos.maintainer.client.NacosMaintainerFactory;
import com.alibaba.nacos.maintainer.client.config.ConfigMaintainerService;
import com.alibaba.nacos.maintainer.client.naming.NamingMaintainerFactory;
import com.alibaba.nacos.maintainer.client.naming.NamingMaintainerService;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * An interop program for the official Nacos v3 admin client
 * (com.alibaba.nacos:nacos-maintainer-client, used unchanged) against a single Nocas (or Nacos)
 * server: core (state, liveness, namespaces), config (publish, get, search, history, beta,
 * listeners, delete) and naming (services, instances, metadata, health checkers, metrics,
 * selector types) administration over {@code /nacos/v3/admin/**}. Every step checks what the
 * server did, not only that the call returned.
 *
 * <p>Environment:
 * <ul>
 *   <li>NOCAS_ADDR: host:httpPort of the server, required;</li>
 *   <li>NOCAS_USERNAME / NOCAS_PASSWORD: optional; given to the client as its
 *       username/password properties, so it logs in (POST /nacos/v3/auth/user/login) and sends
 *       the token on every call;</li>
 *   <li>NOCAS_TEST_ID: optional unique suffix for the namespace, data ids and services
 *       (default: derived from time and pid);</li>
 *   <li>NOCAS_SDK_LOG_LEVEL: optional client log level on stderr (default warn).</li>
 * </ul>
 *
 * <p>Stdout carries only one line per step, {@code PASS: <name>} or
 * {@code FAIL: <name> -- <reason>}, then {@code RESULT: PASS} (exit 0) or {@code RESULT: FAIL}
 * (exit 1). Each step has a 20 s timeout; a watchdog ends the run with exit code 2 after
 * 240 s. Everything else (client logs, details) goes to stderr.
 */
public final class Maintainer {
    private static final long STEP_TIMEOUT_MS = 20_000;
    private static final long WATCHDOG_MS = 240_000;
    private static final String GROUP = "MAINT_GROUP";
    private static final String CLUSTER = "DEFAULT";
    private static final String IP = "127.0.0.1";

    /** The real stdout; System.out is pointed at stderr so nothing else lands on it. */
    private static final PrintStream OUT =
            new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
    private static final Object OUT_LOCK = new Object();
    private static volatile boolean failed;
    private static final List<String> FAILED_STEPS = Collections.synchronizedList(new ArrayList<>());

    private static final ExecutorService STEPS = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "maintainer-step");
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

    @FunctionalInterface
    interface Call<T> {
        T call() throws Exception;
    }

    private static void say(String line) {
        synchronized (OUT_LOCK) {
            OUT.println(line);
            OUT.flush();
        }
    }

    private static void info(String msg) {
        System.err.println("maintainer: " + msg);
        System.err.flush();
    }

    private static String describe(Throwable e) {
        if (e instanceof Fail) {
            return e.getMessage();
        }
        if (e instanceof NacosException) {
            NacosException n = (NacosException) e;
            StringBuilder sb = new StringBuilder("NacosException(errCode=" + n.getErrCode() + "): " + n.getErrMsg());
            if (n.getCause() != null) {
                sb.append(" / caused by ").append(n.getCause());
            }
            return sb.toString();
        }
        StringBuilder sb = new StringBuilder(e.toString());
        Throwable c = e.getCause();
        for (int i = 0; c != null && c != e && i < 3; i++, c = c.getCause()) {
            sb.append(" / caused by ").append(c);
        }
        return sb.toString();
    }

    /** Runs body with a timeout and prints its result line. A timed-out body is left behind. */
    private static boolean step(String name, Body body) {
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
            if (!(c instanceof Fail) && !(c instanceof NacosException)) {
                c.printStackTrace();
            }
            reason = describe(c);
        } catch (InterruptedException e) {
            reason = "interrupted";
        }
        synchronized (OUT_LOCK) {
            if (reason != null) {
                failed = true;
                FAILED_STEPS.add(name);
                say("FAIL: " + name + " -- " + reason.replace('\n', ' '));
                return false;
            }
            say("PASS: " + name);
            return true;
        }
    }

    // ------------------------------------------------------------------ assertions

    private static void check(boolean ok, String msg) throws Fail {
        if (!ok) {
            throw new Fail(msg);
        }
    }

    private static void eq(String what, Object want, Object got) throws Fail {
        if (!Objects.equals(want, got)) {
            throw new Fail(what + " = " + show(got) + ", want " + show(want));
        }
    }

    private static String show(Object o) {
        if (o instanceof String) {
            return "\"" + ((String) o).replace("\n", "\\n") + "\"";
        }
        return String.valueOf(o);
    }

    /**
     * Runs a call that must not succeed with data: a NacosException (the client's rendering
     * of a non-2xx answer) or a null result both count as "absent". Returns a description.
     */
    private static String expectAbsent(String what, Call<?> call) throws Exception {
        Object got;
        try {
            got = call.call();
        } catch (NacosException e) {
            String d = "NacosException(errCode=" + e.getErrCode() + "): " + e.getErrMsg();
            info(what + ": " + d);
            return d;
        }
        if (got != null) {
            throw new Fail(what + " returned " + got + ", want a NacosException or null");
        }
        info(what + ": null");
        return "null";
    }

    /** Like expectAbsent, but only a NacosException with the given HTTP status counts. */
    private static NacosException expectError(String what, int status, Call<?> call) throws Exception {
        Object got;
        try {
            got = call.call();
        } catch (NacosException e) {
            info(what + ": NacosException(errCode=" + e.getErrCode() + "): " + e.getErrMsg());
            if (e.getErrCode() != status) {
                throw new Fail(what + ": NacosException errCode " + e.getErrCode() + " (" + e.getErrMsg()
                        + "), want HTTP " + status);
            }
            return e;
        }
        throw new Fail(what + " returned " + got + ", want a NacosException (HTTP " + status + ")");
    }

    // ------------------------------------------------------------------ helpers

    private static String md5(String s) throws Exception {
        byte[] d = MessageDigest.getInstance("MD5").digest(s.getBytes(StandardCharsets.UTF_8));
        StringBuilder sb = new StringBuilder();
        for (byte b : d) {
            sb.append(String.format("%02x", b));
        }
        return sb.toString();
    }

    private static Service service(String namespace, String name, Map<String, String> meta) {
        Service s = new Service();
        s.setNamespaceId(namespace);
        s.setGroupName(GROUP);
        s.setName(name);
        s.setEphemeral(true);
        s.setProtectThreshold(0.0F);
        if (meta != null) {
            s.setMetadata(new HashMap<>(meta));
        }
        return s;
    }

    private static Instance inst(int port, double weight, Map<String, String> meta) {
        Instance i = new Instance();
        i.setIp(IP);
        i.setPort(port);
        i.setWeight(weight);
        i.setHealthy(true);
        i.setEnabled(true);
        i.setEphemeral(true);
        i.setClusterName(CLUSTER);
        i.setMetadata(meta == null ? new HashMap<>() : new HashMap<>(meta));
        return i;
    }

    private static String show(Instance i) {
        return i.getIp() + ":" + i.getPort() + "{healthy=" + i.isHealthy() + ",enabled=" + i.isEnabled()
                + ",weight=" + i.getWeight() + ",ephemeral=" + i.isEphemeral() + ",cluster=" + i.getClusterName()
                + ",service=" + i.getServiceName() + ",metadata=" + i.getMetadata() + "}";
    }

    private static Instance byPort(List<Instance> in, int port) {
        if (in != null) {
            for (Instance i : in) {
                if (i.getPort() == port) {
                    return i;
                }
            }
        }
        return null;
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

    private static void metaHas(String what, Map<String, String> meta, String key, String value) throws Fail {
        String got = meta == null ? null : meta.get(key);
        if (!Objects.equals(value, got)) {
            throw new Fail(what + ": metadata[" + key + "] = " + show(got) + ", want " + show(value)
                    + " (metadata " + meta + ")");
        }
    }

    private static void metaLacks(String what, Map<String, String> meta, String key) throws Fail {
        if (meta != null && meta.containsKey(key)) {
            throw new Fail(what + ": metadata has " + key + "=" + show(meta.get(key)) + ", want it absent (metadata "
                    + meta + ")");
        }
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
        // halt: skip client shutdown hooks that may block.
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
            finish(2);
        }, "maintainer-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();

        String addr = env("NOCAS_ADDR");
        if (addr == null) {
            info("environment variable NOCAS_ADDR (host:httpPort) is required");
            finish(1);
        }
        final String id = env("NOCAS_TEST_ID") != null ? env("NOCAS_TEST_ID")
                : System.currentTimeMillis() / 1000 + "-" + ProcessHandle.current().pid();
        final String username = env("NOCAS_USERNAME");
        final String password = env("NOCAS_PASSWORD") == null ? "" : env("NOCAS_PASSWORD");

        // Anything a library prints with System.out goes to stderr.
        System.setOut(System.err);
        // Must be set before any client class is loaded.
        String level = env("NOCAS_SDK_LOG_LEVEL") == null ? "warn" : env("NOCAS_SDK_LOG_LEVEL");
        setDefault("org.slf4j.simpleLogger.logFile", "System.err");
        setDefault("org.slf4j.simpleLogger.defaultLogLevel", level);
        setDefault("org.slf4j.simpleLogger.showDateTime", "true");
        setDefault("org.slf4j.simpleLogger.dateTimeFormat", "HH:mm:ss.SSS");
        if ("warn".equalsIgnoreCase(level)) {
            // registerInstance/deregisterInstance of ephemeral instances always log three
            // warnings recommending nacos-client; expected here.
            setDefault("org.slf4j.simpleLogger.log.com.alibaba.nacos.maintainer.client.naming."
                    + "NacosNamingMaintainerServiceImpl", "error");
        }
        setDefault("nacos.logging.default.config.enabled", "false");

        info("nacos-maintainer-client " + com.alibaba.nacos.common.utils.VersionUtils.version + ", server "
                + addr + ", auth " + (username != null) + ", test id " + id);

        final String namespace = "maint-" + id;
        final String nsName = "maintainer ns " + id;
        final String nsDesc = "nacos-maintainer-client (Java) test";
        final String dataA = "maint-" + id + "-a.yaml";
        final String dataB = "maint-" + id + "-b.properties";
        final String contentA1 = "a: 1\n";
        final String contentA2 = "a: 2\nb: two\n";
        final String contentB = "b=1";
        final String betaContent = "a: beta\n";
        final String appName = "maint-app";
        final String srcUser = "maint-user";
        final String configTags = "t1,t2";
        final String desc = "maintainer test config";
        final String svc = "maint-svc-" + id;
        final int port1 = 42001, port2 = 42002;

        Properties props = new Properties();
        props.setProperty("serverAddr", addr);
        if (username != null) {
            props.setProperty("username", username);
            props.setProperty("password", password);
        }

        ConfigMaintainerService[] cfgHolder = new ConfigMaintainerService[1];
        NamingMaintainerService[] namingHolder = new NamingMaintainerService[1];
        boolean clientsOk = step("clients.create", () -> {
            cfgHolder[0] = NacosMaintainerFactory.createConfigMaintainerService(props);
            namingHolder[0] = NamingMaintainerFactory.createNamingMaintainerService(props);
        });
        if (!clientsOk) {
            say("RESULT: FAIL");
            finish(1);
        }
        final ConfigMaintainerService cfg = cfgHolder[0];
        final NamingMaintainerService naming = namingHolder[0];

        // -------------------------------------------------------------- core
        step("core.getServerState", () -> {
            Map<String, String> st = cfg.getServerState();
            info("state " + st);
            check(st != null, "getServerState() = null");
            String mode = st.get("startup_mode");
            check(mode != null, "state has no startup_mode: " + st);
            check(mode.equals("standalone") || mode.equals("cluster"),
                    "startup_mode = " + show(mode) + ", want standalone or cluster");
        });

        step("core.liveness", () -> eq("liveness()", Boolean.TRUE, cfg.liveness()));

        step("core.listClusterNodes", () -> {
            Collection<NacosMember> nodes = naming.listClusterNodes(null, null);
            info("nodes " + nodes);
            check(nodes != null && !nodes.isEmpty(), "listClusterNodes(null, null) = " + nodes + ", want >= 1 member");
            for (NacosMember m : nodes) {
                check(m.getAddress() != null && !m.getAddress().isEmpty(), "member without address: " + m);
                check(m.getState() != null, "member without state: " + m);
            }
        });

        step("namespace.create", () ->
                eq("createNamespace(" + namespace + ")", Boolean.TRUE, cfg.createNamespace(namespace, nsName, nsDesc)));

        step("namespace.create.duplicate", () -> expectError("createNamespace(" + namespace + ") again", 400,
                () -> cfg.createNamespace(namespace, nsName, nsDesc)));

        step("namespace.getNamespaceList", () -> {
            List<Namespace> list = naming.getNamespaceList();
            check(list != null && !list.isEmpty(), "getNamespaceList() = " + list);
            eq("getNamespaceList()[0].namespace", "public", list.get(0).getNamespace());
            Namespace mine = null;
            for (Namespace n : list) {
                if (namespace.equals(n.getNamespace())) {
                    mine = n;
                }
            }
            check(mine != null, "getNamespaceList() does not contain " + namespace);
            eq("listed namespaceShowName", nsName, mine.getNamespaceShowName());
        });

        step("namespace.getNamespace", () -> {
            Namespace n = cfg.getNamespace(namespace);
            check(n != null, "getNamespace(" + namespace + ") = null");
            eq("namespace", namespace, n.getNamespace());
            eq("namespaceShowName", nsName, n.getNamespaceShowName());
            eq("namespaceDesc", nsDesc, n.getNamespaceDesc());
        });

        step("namespace.getNamespace.unknown", () -> expectError("getNamespace(unknown)", 404,
                () -> cfg.getNamespace("maint-missing-" + id)));

        step("namespace.checkNamespaceIdExist", () ->
                eq("checkNamespaceIdExist(" + namespace + ")", Boolean.TRUE, cfg.checkNamespaceIdExist(namespace)));

        step("namespace.updateNamespace", () -> {
            eq("updateNamespace", Boolean.TRUE, cfg.updateNamespace(namespace, nsName + " v2", nsDesc + " v2"));
            Namespace n = cfg.getNamespace(namespace);
            eq("namespaceShowName after update", nsName + " v2", n.getNamespaceShowName());
            eq("namespaceDesc after update", nsDesc + " v2", n.getNamespaceDesc());
        });

        // -------------------------------------------------------------- config
        step("config.publishConfig", () -> {
            eq("publishConfig(" + dataA + ")", true,
                    cfg.publishConfig(dataA, GROUP, namespace, contentA1, appName, srcUser, configTags, desc, "yaml"));
            eq("publishConfig(" + dataA + ") again", true,
                    cfg.publishConfig(dataA, GROUP, namespace, contentA2, appName, srcUser, configTags, desc, "yaml"));
            eq("publishConfig(" + dataB + ")", true, cfg.publishConfig(dataB, GROUP, namespace, contentB, appName,
                    srcUser, null, "second config", "properties"));
        });

        step("config.getConfig", () -> {
            ConfigDetailInfo c = cfg.getConfig(dataA, GROUP, namespace);
            check(c != null, "getConfig(" + dataA + ") = null");
            eq("content", contentA2, c.getContent());
            eq("dataId", dataA, c.getDataId());
            eq("groupName", GROUP, c.getGroupName());
            eq("namespaceId", namespace, c.getNamespaceId());
            eq("type", "yaml", c.getType());
            eq("appName", appName, c.getAppName());
            eq("desc", desc, c.getDesc());
            eq("md5", md5(contentA2), c.getMd5());
            check(c.getId() != null && c.getId() > 0, "id = " + c.getId() + ", want a positive id");
            check(c.getConfigTags() != null && c.getConfigTags().contains("t1") && c.getConfigTags().contains("t2"),
                    "configTags = " + show(c.getConfigTags()) + ", want t1 and t2");
            check(c.getModifyTime() > 0, "modifyTime = " + c.getModifyTime() + ", want > 0");
        });

        step("config.searchConfigByDetails.blur", () -> {
            Page<ConfigBasicInfo> p = cfg.searchConfigByDetails("maint-" + id + "-*", GROUP, namespace, "blur", null,
                    null, null, null, 1, 100);
            check(p != null, "search = null");
            List<String> ids = new ArrayList<>();
            for (ConfigBasicInfo c : p.getPageItems()) {
                ids.add(c.getDataId());
                eq("item namespaceId", namespace, c.getNamespaceId());
                eq("item groupName", GROUP, c.getGroupName());
            }
            Collections.sort(ids);
            eq("blur search dataIds", List.of(dataA, dataB), ids);
            eq("totalCount", 2, p.getTotalCount());
            eq("pageNumber", 1, p.getPageNumber());
            // A pattern without '*' is not a substring match.
            Page<ConfigBasicInfo> none = cfg.searchConfigByDetails("maint-" + id, GROUP, namespace, "blur", null,
                    null, null, null, 1, 100);
            eq("blur search without '*': totalCount", 0, none.getTotalCount());
        });

        step("config.searchConfigByDetails.accurate", () -> {
            Page<ConfigBasicInfo> p = cfg.searchConfigByDetails(dataA, GROUP, namespace, "accurate", null, null, null,
                    null, 1, 100);
            check(p != null, "search = null");
            eq("totalCount", 1, p.getTotalCount());
            eq("pageItems.size", 1, p.getPageItems().size());
            ConfigBasicInfo c = p.getPageItems().get(0);
            eq("dataId", dataA, c.getDataId());
            eq("appName", appName, c.getAppName());
            eq("type", "yaml", c.getType());
            eq("md5", md5(contentA2), c.getMd5());
            // accurate with another appName finds nothing
            Page<ConfigBasicInfo> other = cfg.searchConfigByDetails(dataA, GROUP, namespace, "accurate", null, null,
                    null, "other-app", 1, 100);
            eq("accurate search with appName=other-app: totalCount", 0, other.getTotalCount());
        });

        step("config.getConfigListByNamespace", () -> {
            List<ConfigBasicInfo> list = cfg.getConfigListByNamespace(namespace);
            check(list != null, "getConfigListByNamespace = null");
            List<String> ids = new ArrayList<>();
            for (ConfigBasicInfo c : list) {
                ids.add(c.getDataId());
            }
            Collections.sort(ids);
            eq("dataIds", List.of(dataA, dataB), ids);
        });

        long[] newestNid = {-1};
        step("config.listConfigHistory", () -> {
            Page<ConfigHistoryBasicInfo> p = cfg.listConfigHistory(dataA, GROUP, namespace, 1, 10);
            check(p != null, "listConfigHistory = null");
            List<ConfigHistoryBasicInfo> items = p.getPageItems();
            StringBuilder sb = new StringBuilder();
            for (ConfigHistoryBasicInfo h : items) {
                sb.append(" [id=").append(h.getId()).append(" op=").append(h.getOpType()).append(" md5=")
                        .append(h.getMd5()).append(" publishType=").append(h.getPublishType()).append("]");
            }
            info("history of " + dataA + ":" + sb);
            check(items.size() >= 2, "history has " + items.size() + " entries, want >= 2 (two publishes)");
            eq("totalCount", items.size(), p.getTotalCount());
            for (ConfigHistoryBasicInfo h : items) {
                eq("history item dataId", dataA, h.getDataId());
                eq("history item groupName", GROUP, h.getGroupName());
                eq("history item namespaceId", namespace, h.getNamespaceId());
                check(h.getId() != null, "history item without id");
            }
            check(items.get(0).getId() > items.get(1).getId(),
                    "history not newest first: ids " + items.get(0).getId() + ", " + items.get(1).getId());
            eq("oldest entry opType", "I", items.get(items.size() - 1).getOpType().trim());
            newestNid[0] = items.get(0).getId();
        });

        step("config.getConfigHistoryInfo", () -> {
            Page<ConfigHistoryBasicInfo> p = cfg.listConfigHistory(dataA, GROUP, namespace, 1, 10);
            List<ConfigHistoryBasicInfo> items = p.getPageItems();
            check(!items.isEmpty(), "no history");
            ConfigHistoryBasicInfo oldest = items.get(items.size() - 1);
            ConfigHistoryDetailInfo d = cfg.getConfigHistoryInfo(dataA, GROUP, namespace, oldest.getId());
            check(d != null, "getConfigHistoryInfo(" + oldest.getId() + ") = null");
            eq("id", oldest.getId(), d.getId());
            eq("dataId", dataA, d.getDataId());
            eq("groupName", GROUP, d.getGroupName());
            eq("namespaceId", namespace, d.getNamespaceId());
            eq("opType", "I", d.getOpType().trim());
            eq("content of the insert entry", contentA1, d.getContent());
            eq("md5 of the insert entry", md5(contentA1), d.getMd5());
            ConfigHistoryBasicInfo newest = items.get(0);
            ConfigHistoryDetailInfo dn = cfg.getConfigHistoryInfo(dataA, GROUP, namespace, newest.getId());
            info("newest history entry " + newest.getId() + " op " + dn.getOpType() + " content " + show(dn.getContent()));
            check(contentA1.equals(dn.getContent()) || contentA2.equals(dn.getContent()),
                    "newest history content = " + show(dn.getContent()) + ", want one of the published contents");
        });

        step("config.getPreviousConfigHistoryInfo", () -> {
            // `id` is the config's id (not a history nid): Nacos answers the newest history
            // entry recorded for that config id, i.e. the version before the current one.
            check(newestNid[0] > 0, "no history id from config.listConfigHistory");
            ConfigDetailInfo c = cfg.getConfig(dataA, GROUP, namespace);
            ConfigHistoryDetailInfo prev = cfg.getPreviousConfigHistoryInfo(dataA, GROUP, namespace, c.getId());
            check(prev != null, "getPreviousConfigHistoryInfo(config id " + c.getId() + ") = null");
            info("previous of config " + c.getId() + ": nid " + prev.getId() + " op " + prev.getOpType()
                    + " content " + show(prev.getContent()));
            eq("previous nid", newestNid[0], prev.getId());
            eq("previous dataId", dataA, prev.getDataId());
            eq("previous opType", "U", prev.getOpType().trim());
            eq("previous content (the version before the update)", contentA1, prev.getContent());
        });

        step("config.publishBetaConfig", () -> {
            eq("publishBetaConfig", true, cfg.publishBetaConfig(dataA, GROUP, namespace, betaContent, appName,
                    srcUser, configTags, desc, "yaml", "127.0.0.1,10.9.9.9"));
            ConfigGrayInfo g = cfg.queryBeta(dataA, GROUP, namespace);
            check(g != null, "queryBeta = null");
            info("beta " + g.getGrayName() + " rule " + g.getGrayRule());
            eq("beta content", betaContent, g.getContent());
            eq("beta dataId", dataA, g.getDataId());
            eq("beta groupName", GROUP, g.getGroupName());
            eq("beta namespaceId", namespace, g.getNamespaceId());
            eq("beta md5", md5(betaContent), g.getMd5());
            eq("grayName", "beta", g.getGrayName());
            check(g.getGrayRule() != null && g.getGrayRule().contains("10.9.9.9"),
                    "grayRule = " + show(g.getGrayRule()) + ", want the beta IPs");
            // the formal config is untouched
            eq("formal content while in beta", contentA2, cfg.getConfig(dataA, GROUP, namespace).getContent());
        });

        step("config.stopBeta", () -> {
            eq("stopBeta", true, cfg.stopBeta(dataA, GROUP, namespace));
            expectAbsent("queryBeta after stopBeta", () -> cfg.queryBeta(dataA, GROUP, namespace));
            eq("formal content after stopBeta", contentA2, cfg.getConfig(dataA, GROUP, namespace).getContent());
        });

        step("config.getListeners", () -> {
            ConfigListenerInfo l = cfg.getListeners(dataA, GROUP, namespace, true);
            check(l != null, "getListeners = null");
            info("listeners " + l.getQueryType() + " " + l.getListenersStatus());
            eq("queryType", "config", l.getQueryType());
            check(l.getListenersStatus() != null, "listenersStatus = null, want a (possibly empty) map");
        });

        step("config.updateConfigMetadata", () -> {
            // PUT /v3/admin/cs/config/metadata: new in the 3.2 admin client.
            eq("updateConfigMetadata", true,
                    cfg.updateConfigMetadata(dataB, GROUP, namespace, "new desc", "t9"));
            ConfigDetailInfo c = cfg.getConfig(dataB, GROUP, namespace);
            eq("desc after updateConfigMetadata", "new desc", c.getDesc());
            eq("configTags after updateConfigMetadata", "t9", c.getConfigTags());
            eq("content after updateConfigMetadata", contentB, c.getContent());
        });

        step("config.deleteConfig", () -> {
            eq("deleteConfig(" + dataA + ")", true, cfg.deleteConfig(dataA, GROUP, namespace));
            expectAbsent("getConfig after deleteConfig", () -> cfg.getConfig(dataA, GROUP, namespace));
            Page<ConfigBasicInfo> p = cfg.searchConfigByDetails(dataA, GROUP, namespace, "accurate", null, null, null,
                    null, 1, 100);
            eq("accurate search after delete: totalCount", 0, p.getTotalCount());
            Page<ConfigHistoryBasicInfo> h = cfg.listConfigHistory(dataA, GROUP, namespace, 1, 10);
            check(!h.getPageItems().isEmpty(), "no history after delete");
            eq("newest history opType after delete", "D", h.getPageItems().get(0).getOpType().trim());
        });

        step("config.deleteConfigs", () -> {
            ConfigDetailInfo b = cfg.getConfig(dataB, GROUP, namespace);
            check(b != null && b.getId() != null, "getConfig(" + dataB + ") has no id: " + b);
            eq("deleteConfigs([" + b.getId() + "])", true, cfg.deleteConfigs(new ArrayList<>(List.of(b.getId()))));
            expectAbsent("getConfig after deleteConfigs", () -> cfg.getConfig(dataB, GROUP, namespace));
        });

        // -------------------------------------------------------------- naming
        Map<String, String> svcMeta = new LinkedHashMap<>();
        svcMeta.put("owner", "maint");
        Map<String, String> reg1 = new LinkedHashMap<>();
        reg1.put("reg", "r1");
        // An instance registered over HTTP gets no heartbeats: keep it for the whole run.
        reg1.put(PreservedMetadataKeys.HEART_BEAT_TIMEOUT, "600000");
        reg1.put(PreservedMetadataKeys.IP_DELETE_TIMEOUT, "600000");
        Map<String, String> reg2 = new LinkedHashMap<>(reg1);
        reg2.put("reg", "r2");

        step("naming.createService", () -> {
            eq("createService", "ok", naming.createService(service(namespace, svc, svcMeta)));
            expectError("createService again", 400, () -> naming.createService(service(namespace, svc, svcMeta)));
        });

        step("naming.getServiceDetail", () -> {
            ServiceDetailInfo d = naming.getServiceDetail(service(namespace, svc, null));
            check(d != null, "getServiceDetail = null");
            eq("serviceName", svc, d.getServiceName());
            eq("groupName", GROUP, d.getGroupName());
            eq("namespaceId", namespace, d.getNamespaceId());
            metaHas("service", d.getMetadata(), "owner", "maint");
            eq("protectThreshold", 0.0F, d.getProtectThreshold());
            check(d.getSelector() != null, "selector = null");
            eq("selector type", "none", d.getSelector().getType());
        });

        step("naming.updateService", () -> {
            Service s = service(namespace, svc, Map.of("owner", "maint", "v", "2"));
            s.setProtectThreshold(0.5F);
            eq("updateService", "ok", naming.updateService(s));
            ServiceDetailInfo d = naming.getServiceDetail(service(namespace, svc, null));
            metaHas("service", d.getMetadata(), "v", "2");
            metaHas("service", d.getMetadata(), "owner", "maint");
            eq("protectThreshold", 0.5F, d.getProtectThreshold());
            // back to 0, so the protect threshold never hides anything below
            eq("updateService", "ok", naming.updateService(service(namespace, svc, svcMeta)));
        });

        step("naming.listServices", () -> {
            Page<ServiceView> p = naming.listServices(namespace, "", "", false, 1, 100);
            check(p != null, "listServices = null");
            ServiceView mine = null;
            for (ServiceView v : p.getPageItems()) {
                if (svc.equals(v.getName())) {
                    mine = v;
                }
            }
            check(mine != null, "listServices(" + namespace + ") does not list " + svc + ": " + p.getPageItems());
            eq("groupName", GROUP, mine.getGroupName());
            eq("ipCount", 0, mine.getIpCount());
            Page<ServiceView> filtered = naming.listServices(namespace, GROUP, svc, false, 1, 100);
            eq("listServices filtered by group and name: totalCount", 1, filtered.getTotalCount());
        });

        step("naming.registerInstance", () -> {
            eq("registerInstance(" + port1 + ")", "ok",
                    naming.registerInstance(service(namespace, svc, null), inst(port1, 1.0, reg1)));
            eq("registerInstance(" + port2 + ")", "ok",
                    naming.registerInstance(service(namespace, svc, null), inst(port2, 1.0, reg2)));
        });

        step("naming.listInstances", () -> {
            List<Instance> in = naming.listInstances(service(namespace, svc, null), CLUSTER, false);
            check(in != null, "listInstances = null");
            eq("ports", List.of(port1, port2), ports(in));
            for (Instance i : in) {
                info("listed " + show(i));
                eq("ip", IP, i.getIp());
                eq("clusterName", CLUSTER, i.getClusterName());
                check(i.isEphemeral(), "instance " + i.getPort() + " not ephemeral");
                check(i.isEnabled(), "instance " + i.getPort() + " not enabled");
            }
            metaHas("instance " + port1, byPort(in, port1).getMetadata(), "reg", "r1");
            metaHas("instance " + port2, byPort(in, port2).getMetadata(), "reg", "r2");
        });

        step("naming.getInstanceDetail", () -> {
            Instance d = naming.getInstanceDetail(service(namespace, svc, null), inst(port1, 1.0, null));
            check(d != null, "getInstanceDetail = null");
            info("detail " + show(d));
            eq("ip", IP, d.getIp());
            eq("port", port1, d.getPort());
            eq("clusterName", CLUSTER, d.getClusterName());
            eq("weight", 1.0, d.getWeight());
            metaHas("detail", d.getMetadata(), "reg", "r1");
        });

        step("naming.getServiceDetail.clusters", () -> {
            ServiceDetailInfo d = naming.getServiceDetail(service(namespace, svc, null));
            check(d.getClusterMap() != null && d.getClusterMap().containsKey(CLUSTER),
                    "clusterMap = " + d.getClusterMap() + ", want cluster " + CLUSTER);
            ClusterInfo c = d.getClusterMap().get(CLUSTER);
            info("cluster " + CLUSTER + ": clusterName=" + c.getClusterName() + " healthChecker="
                    + (c.getHealthChecker() == null ? null : c.getHealthChecker().getType()) + " healthyCheckPort="
                    + c.getHealthyCheckPort() + " useInstancePortForCheck=" + c.isUseInstancePortForCheck()
                    + " metadata=" + c.getMetadata());
            // ClusterInfo fields: clusterName, healthChecker, healthyCheckPort,
            // useInstancePortForCheck, metadata, hosts. No cluster metadata was ever stored:
            // Nacos reports its defaults (TCP checker, port 80); Nocas reports NONE, because it
            // probes no cluster until a checker is set (a documented difference, README).
            List<String> problems = new ArrayList<>();
            if (!CLUSTER.equals(c.getClusterName())) {
                problems.add("clusterMap[" + CLUSTER + "].clusterName = " + show(c.getClusterName()) + ", want "
                        + show(CLUSTER));
            }
            String checker = c.getHealthChecker() == null ? null : c.getHealthChecker().getType();
            if (!"NONE".equals(checker)) {
                problems.add("clusterMap[" + CLUSTER + "].healthChecker.type = " + show(checker)
                        + ", want \"NONE\" (no checker set)");
            }
            if (c.getHealthyCheckPort() != 80) {
                problems.add("clusterMap[" + CLUSTER + "].healthyCheckPort = " + c.getHealthyCheckPort() + ", want 80");
            }
            if (c.getMetadata() == null) {
                problems.add("clusterMap[" + CLUSTER + "].metadata = null");
            }
            check(problems.isEmpty(), String.join("; ", problems));
        });

        step("naming.getInstanceDetail.unknown", () -> expectError("getInstanceDetail(port 42999)", 404,
                () -> naming.getInstanceDetail(service(namespace, svc, null), inst(42999, 1.0, null))));

        step("naming.listServicesWithDetail", () -> {
            Page<ServiceDetailInfo> p = naming.listServicesWithDetail(namespace, GROUP, svc, 1, 100);
            check(p != null, "listServicesWithDetail = null");
            ServiceDetailInfo mine = null;
            for (ServiceDetailInfo d : p.getPageItems()) {
                if (svc.equals(d.getServiceName())) {
                    mine = d;
                }
            }
            check(mine != null, "listServicesWithDetail does not list " + svc);
            eq("groupName", GROUP, mine.getGroupName());
            check(mine.getClusterMap() != null && mine.getClusterMap().containsKey(CLUSTER),
                    "clusterMap = " + mine.getClusterMap() + ", want cluster " + CLUSTER);
            ClusterInfo c = mine.getClusterMap().get(CLUSTER);
            check(c.getHosts() != null, "cluster " + CLUSTER + " has hosts = null");
            eq("hosts ports", List.of(port1, port2), ports(c.getHosts()));
        });

        step("naming.getSubscribers", () -> {
            Page<SubscriberInfo> p = naming.getSubscribers(service(namespace, svc, null), 1, 10, true);
            check(p != null, "getSubscribers = null");
            check(p.getPageItems() != null, "pageItems = null");
            eq("subscribers (none subscribed)", 0, p.getTotalCount());
        });

        step("naming.updateInstance", () -> {
            eq("updateInstance", "ok",
                    naming.updateInstance(service(namespace, svc, null), inst(port1, 2.0, Map.of("upd", "u1"))));
            Instance d = naming.getInstanceDetail(service(namespace, svc, null), inst(port1, 1.0, null));
            info("after updateInstance " + show(d));
            eq("weight after updateInstance", 2.0, d.getWeight());
            metaHas("after updateInstance", d.getMetadata(), "upd", "u1");
            metaHas("after updateInstance (registered key stays)", d.getMetadata(), "reg", "r1");
            // the other instance is untouched
            Instance o = naming.getInstanceDetail(service(namespace, svc, null), inst(port2, 1.0, null));
            metaLacks("instance " + port2 + " after updateInstance of " + port1, o.getMetadata(), "upd");
        });

        step("naming.partialUpdateInstance", () -> {
            eq("partialUpdateInstance", "ok", naming.partialUpdateInstance(service(namespace, svc, null),
                    inst(port1, 3.0, Map.of("part", "p1"))));
            Instance d = naming.getInstanceDetail(service(namespace, svc, null), inst(port1, 1.0, null));
            info("after partialUpdateInstance " + show(d));
            eq("weight after partialUpdateInstance", 3.0, d.getWeight());
            metaHas("after partialUpdateInstance", d.getMetadata(), "part", "p1");
            metaHas("after partialUpdateInstance (registered key stays)", d.getMetadata(), "reg", "r1");
            // Nacos: a partial update with metadata replaces the whole override map, so the
            // key the earlier updateInstance added is gone (the registered keys stay).
            metaLacks("after partialUpdateInstance (earlier override key replaced)", d.getMetadata(), "upd");
        });

        step("naming.batchUpdateInstanceMetadata", () -> {
            InstanceMetadataBatchResult r = naming.batchUpdateInstanceMetadata(service(namespace, svc, null),
                    List.of(inst(port1, 1.0, null), inst(port2, 1.0, null)), Map.of("batch", "b1"));
            check(r != null && r.getUpdated() != null, "batchUpdateInstanceMetadata result = " + r);
            info("batch update: " + r.getUpdated());
            eq("updated count", 2, r.getUpdated().size());
            List<Instance> in = naming.listInstances(service(namespace, svc, null), CLUSTER, false);
            eq("ports", List.of(port1, port2), ports(in));
            for (Instance i : in) {
                metaHas("instance " + i.getPort() + " after batch update", i.getMetadata(), "batch", "b1");
            }
            metaHas("instance " + port1 + " after batch update", byPort(in, port1).getMetadata(), "reg", "r1");
            metaHas("instance " + port1 + " after batch update (merged)", byPort(in, port1).getMetadata(), "part", "p1");
            metaHas("instance " + port2 + " after batch update", byPort(in, port2).getMetadata(), "reg", "r2");
        });

        step("naming.batchDeleteInstanceMetadata", () -> {
            InstanceMetadataBatchResult r = naming.batchDeleteInstanceMetadata(service(namespace, svc, null),
                    List.of(inst(port1, 1.0, null), inst(port2, 1.0, null)), Map.of("batch", ""));
            check(r != null && r.getUpdated() != null, "batchDeleteInstanceMetadata result = " + r);
            info("batch delete: " + r.getUpdated());
            eq("updated count", 2, r.getUpdated().size());
            List<Instance> in = naming.listInstances(service(namespace, svc, null), CLUSTER, false);
            for (Instance i : in) {
                metaLacks("instance " + i.getPort() + " after batch delete", i.getMetadata(), "batch");
            }
            metaHas("instance " + port1 + " after batch delete", byPort(in, port1).getMetadata(), "part", "p1");
            metaHas("instance " + port1 + " after batch delete", byPort(in, port1).getMetadata(), "reg", "r1");
        });

        // Not called: getHealthCheckers() and listSelectorTypes() of the
        // 3.2.1 client read the whole {code, message, data} envelope as their
        // result and throw against any server that answers as Nacos does
        // (the raw routes are covered by the Rust v3 tests).

        step("naming.getMetrics", () -> {
            MetricsInfo m = naming.getMetrics(false);
            check(m != null, "getMetrics(false) = null");
            info("metrics status=" + m.getStatus() + " services=" + m.getServiceCount() + " instances="
                    + m.getInstanceCount() + " clients=" + m.getClientCount());
            eq("status", "UP", m.getStatus());
            check(m.getServiceCount() != null && m.getServiceCount() >= 1,
                    "serviceCount = " + m.getServiceCount() + ", want >= 1");
            check(m.getInstanceCount() != null && m.getInstanceCount() >= 2,
                    "instanceCount = " + m.getInstanceCount() + ", want >= 2");
            check(m.getClientCount() != null, "clientCount = null");
            info("metrics clients: connectionBased=" + m.getConnectionBasedClientCount() + " ephemeralIpPort="
                    + m.getEphemeralIpPortClientCount() + " persistentIpPort=" + m.getPersistentIpPortClientCount()
                    + " responsible=" + m.getResponsibleClientCount());
            // Two instances registered over HTTP: two ephemeral ip:port clients (ip:port#true).
            check(m.getEphemeralIpPortClientCount() != null && m.getEphemeralIpPortClientCount() >= 2,
                    "ephemeralIpPortClientCount = " + m.getEphemeralIpPortClientCount() + ", want >= 2");
            // Nacos counts every client once in clientCount and once in one of the three kinds.
            int kinds = m.getConnectionBasedClientCount() + m.getEphemeralIpPortClientCount()
                    + m.getPersistentIpPortClientCount();
            eq("clientCount (connectionBased + ephemeralIpPort + persistentIpPort = " + kinds + ")", kinds,
                    m.getClientCount());
            MetricsInfo s = naming.getMetrics(true);
            eq("status (onlyStatus)", "UP", s.getStatus());
        });

        step("naming.deregisterInstance", () -> {
            eq("deregisterInstance(" + port1 + ")", "ok",
                    naming.deregisterInstance(service(namespace, svc, null), inst(port1, 1.0, null)));
            List<Instance> in = naming.listInstances(service(namespace, svc, null), CLUSTER, false);
            eq("ports after one deregistration", List.of(port2), ports(in));
            eq("deregisterInstance(" + port2 + ")", "ok",
                    naming.deregisterInstance(service(namespace, svc, null), inst(port2, 1.0, null)));
            ServiceDetailInfo d = naming.getServiceDetail(service(namespace, svc, null));
            int hosts = 0;
            if (d.getClusterMap() != null) {
                for (ClusterInfo c : d.getClusterMap().values()) {
                    hosts += c.getHosts() == null ? 0 : c.getHosts().size();
                }
            }
            eq("instances left in service detail", 0, hosts);
        });

        step("naming.removeService", () -> {
            eq("removeService", "ok", naming.removeService(service(namespace, svc, null)));
            expectError("getServiceDetail after removeService", 400,
                    () -> naming.getServiceDetail(service(namespace, svc, null)));
            Page<ServiceView> p = naming.listServices(namespace, GROUP, svc, false, 1, 100);
            eq("listServices after removeService: totalCount", 0, p.getTotalCount());
        });

        // -------------------------------------------------------------- core: namespace delete
        step("namespace.deleteNamespace", () -> {
            eq("deleteNamespace(" + namespace + ")", Boolean.TRUE, cfg.deleteNamespace(namespace));
            eq("checkNamespaceIdExist after delete", Boolean.FALSE, cfg.checkNamespaceIdExist(namespace));
            for (Namespace n : naming.getNamespaceList()) {
                check(!namespace.equals(n.getNamespace()), "getNamespaceList() still lists " + namespace);
            }
        });

        // -------------------------------------------------------------- cleanup
        Thread closer = new Thread(() -> {
            try {
                cfg.shutdown();
            } catch (Exception e) {
                info("config shutdown: " + e);
            }
            try {
                naming.shutdown();
            } catch (Exception e) {
                info("naming shutdown: " + e);
            }
        }, "maintainer-close");
        closer.setDaemon(true);
        closer.start();
        closer.join(10_000);

        if (failed) {
            info("failed steps: " + FAILED_STEPS);
            say("RESULT: FAIL");
            finish(1);
        }
        say("RESULT: PASS");
        finish(0);
    }
}
