import com.alibaba.nacos.api.NacosFactory;
import com.alibaba.nacos.api.config.ConfigService;
import com.alibaba.nacos.api.config.listener.AbstractFuzzyWatchEventWatcher;
import com.alibaba.nacos.api.config.listener.ConfigFuzzyWatchChangeEvent;
import com.alibaba.nacos.api.lock.LockService;
import com.alibaba.nacos.api.naming.NamingService;
import com.alibaba.nacos.api.naming.listener.FuzzyWatchChangeEvent;
import com.alibaba.nacos.api.naming.pojo.ListView;
import com.alibaba.nacos.client.lock.core.NLockFactory;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * The steps only the 3.x client line has (compiled only into the 3.x build, see pom.xml):
 * config fuzzy watch ({@code ConfigService.fuzzyWatchWithGroupKeys}), naming fuzzy watch
 * ({@code NamingService.fuzzyWatchWithServiceKeys}) and the distributed lock
 * ({@code LockService}, {@code NLockFactory}). Everything happens in the run's own namespace.
 * Step results go through {@link Features#step}, so output follows Features' conventions.
 */
final class LineFeatures {
    /** How long a fuzzy watch's future may take (the client completes it on the server's finish notice). */
    private static final long INIT_TIMEOUT_MS = 10_000;
    /** How long to wait for an event that must not come. */
    private static final long QUIET_MS = 1_000;
    private static final String OTHER_GROUP = "JAVA_FEAT_OTHER";
    private static final String ADD_CONFIG = "ADD_CONFIG";
    private static final String DELETE_CONFIG = "DELETE_CONFIG";
    private static final String ADD_SERVICE = "ADD_SERVICE";
    private static final String DELETE_SERVICE = "DELETE_SERVICE";
    private static final String INIT_NOTIFY = "FUZZY_WATCH_INIT_NOTIFY";
    private static final String RESOURCE_CHANGED = "FUZZY_WATCH_RESOURCE_CHANGED";

    private LineFeatures() {
    }

    /** Events a watcher received, in order; over-limit callbacks are kept apart. */
    static final class Events<E> {
        final String name;
        final Function<E, String> show;
        final BlockingQueue<E> q = new LinkedBlockingQueue<>();
        final List<String> overLimit = Collections.synchronizedList(new ArrayList<>());

        Events(String name, Function<E, String> show) {
            this.name = name;
            this.show = show;
        }

        void add(E e) {
            Features.info(name + " event: " + show.apply(e));
            q.add(e);
        }

        void overLimit(String what) {
            Features.info(name + ": " + what);
            overLimit.add(what);
        }

        private void checkLimits() throws Features.Fail {
            if (!overLimit.isEmpty()) {
                throw new Features.Fail(name + " watcher was told " + overLimit);
            }
        }

        /**
         * Waits for the first event that ok accepts; any other event before it fails, as does none
         * within the push timeout.
         */
        E next(String what, Predicate<E> ok) throws Exception {
            long start = System.nanoTime();
            long deadline = start + TimeUnit.MILLISECONDS.toNanos(Features.PUSH_TIMEOUT_MS);
            long left = deadline - System.nanoTime();
            E e = left > 0 ? q.poll(left, TimeUnit.NANOSECONDS) : null;
            checkLimits();
            if (e == null) {
                throw new Features.Fail(name + " watcher got no event within " + Features.PUSH_TIMEOUT_MS / 1000
                        + " s, want " + what);
            }
            if (!ok.test(e)) {
                throw new Features.Fail(name + " watcher got " + show.apply(e) + ", want " + what);
            }
            Features.info(name + ": " + what + " after " + (System.nanoTime() - start) / 1_000_000 + " ms");
            return e;
        }

        /** Fails if any event arrives within QUIET_MS. */
        void none(String why) throws Exception {
            E e = q.poll(QUIET_MS, TimeUnit.MILLISECONDS);
            checkLimits();
            if (e != null) {
                throw new Features.Fail(name + " watcher got " + show.apply(e) + " (" + why + "), want no event");
            }
        }

        List<String> drainShown() {
            List<E> got = new ArrayList<>();
            q.drainTo(got);
            List<String> out = new ArrayList<>();
            for (E e : got) {
                out.add(show.apply(e));
            }
            return out;
        }
    }

    private static String show(ConfigFuzzyWatchChangeEvent e) {
        return e.getChangedType() + " " + e.getDataId() + "/" + e.getGroup() + "/" + e.getNamespace() + " ("
                + e.getSyncType() + ")";
    }

    private static String show(FuzzyWatchChangeEvent e) {
        return e.getChangeType() + " " + e.getServiceName() + "/" + e.getGroupName() + "/" + e.getNamespace()
                + " (" + e.getSyncType() + ")";
    }

    /**
     * A step whose checks read events: after a failed one, events it left unread are dropped
     * (and logged), so they are not blamed on the next step.
     */
    private static boolean step(Events<?> events, String name, Features.Body body) {
        boolean ok = Features.step(name, body);
        if (!ok) {
            List<String> left = events.drainShown();
            if (!left.isEmpty()) {
                Features.info(name + " failed; dropping the " + events.name + " events it left unread: " + left);
            }
        }
        return ok;
    }

    private static <T> T need(T v, String what) throws Features.Fail {
        if (v == null) {
            throw new Features.Fail("no " + what + " (an earlier step failed)");
        }
        return v;
    }

    private static void publish(ConfigService c, String dataId, String group, String content) throws Exception {
        if (!c.publishConfig(dataId, group, content)) {
            throw new Features.Fail("publishConfig(" + dataId + ", " + group + ") returned false");
        }
    }

    private static void remove(ConfigService c, String dataId, String group) throws Exception {
        if (!c.removeConfig(dataId, group)) {
            throw new Features.Fail("removeConfig(" + dataId + ", " + group + ") returned false");
        }
    }

    private static <T> T init(Future<T> f, String call, Events<?> events) throws Exception {
        try {
            return f.get(INIT_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new Features.Fail(call + ": future not done within " + INIT_TIMEOUT_MS / 1000
                    + " s (the client completes it on the server's FINISH_FUZZY_WATCH_INIT_NOTIFY sync); events so far: "
                    + events.drainShown() + ", over-limit callbacks: " + events.overLimit);
        }
    }

    static void run(Features.Server srv, String namespace, String id, NamingService naming1,
            NamingService naming2, ConfigService config1, List<Features.Body> closers) {
        fuzzyConfig(srv, namespace, config1, closers);
        fuzzyNaming(namespace, naming1, naming2);
        lock(srv, namespace, id, closers);
    }

    // ------------------------------------------------------------------ config fuzzy watch

    private static void fuzzyConfig(Features.Server srv, String namespace, ConfigService config1,
            List<Features.Body> closers) {
        final String group = Features.CONFIG_GROUP;
        final String pattern = "fz-*";
        final Function<String, String> key = d -> d + "+" + group + "+" + namespace;
        final Events<ConfigFuzzyWatchChangeEvent> events = new Events<>("config fuzzy", LineFeatures::show);
        final AbstractFuzzyWatchEventWatcher watcher = new AbstractFuzzyWatchEventWatcher() {
            @Override
            public void onEvent(ConfigFuzzyWatchChangeEvent event) {
                events.add(event);
            }

            @Override
            public void onPatternOverLimit() {
                events.overLimit("onPatternOverLimit");
            }

            @Override
            public void onConfigReachUpLimit() {
                events.overLimit("onConfigReachUpLimit");
            }
        };
        // The watcher's own client, so every notice crosses connections (config1 publishes).
        final ConfigService[] cw = new ConfigService[1];
        final Predicate<ConfigFuzzyWatchChangeEvent> inNs =
                e -> group.equals(e.getGroup()) && namespace.equals(e.getNamespace());

        step(events, "config.fuzzy-watch-initial-keys", () -> {
            publish(config1, "fz-a", group, "a=1");
            publish(config1, "fz-b", group, "b=1");
            publish(config1, "nofz-a", group, "not matched: data id");
            publish(config1, "fz-a", OTHER_GROUP, "not matched: group");
            ConfigService c = NacosFactory.createConfigService(Features.clientProps(srv, namespace, "config-fuzzy"));
            closers.add(c::shutDown);
            cw[0] = c;
            String call = "fuzzyWatchWithGroupKeys(\"" + pattern + "\", \"" + group + "\")";
            Set<String> got = init(c.fuzzyWatchWithGroupKeys(pattern, group, watcher), call, events);
            Set<String> want = new TreeSet<>(List.of(key.apply("fz-a"), key.apply("fz-b")));
            if (got == null || !new TreeSet<>(got).equals(want)) {
                throw new Features.Fail(call + " yielded " + (got == null ? null : new TreeSet<>(got)) + ", want " + want);
            }
            // The initial sync also reaches the watcher: one ADD_CONFIG per existing key.
            Set<String> seen = new TreeSet<>();
            while (seen.size() < 2) {
                ConfigFuzzyWatchChangeEvent e = events.next("ADD_CONFIG (" + INIT_NOTIFY + ") of fz-a and fz-b",
                        x -> ADD_CONFIG.equals(x.getChangedType()) && INIT_NOTIFY.equals(x.getSyncType())
                                && inNs.test(x) && Set.of("fz-a", "fz-b").contains(x.getDataId())
                                && !seen.contains(x.getDataId()));
                seen.add(e.getDataId());
            }
        });

        step(events, "config.fuzzy-watch-add-event", () -> {
            need(cw[0], "config fuzzy watch");
            publish(config1, "fz-c", group, "c=1");
            events.next("ADD_CONFIG (" + RESOURCE_CHANGED + ") of fz-c/" + group + "/" + namespace,
                    e -> ADD_CONFIG.equals(e.getChangedType()) && RESOURCE_CHANGED.equals(e.getSyncType())
                            && "fz-c".equals(e.getDataId()) && inNs.test(e));
        });

        step(events, "config.fuzzy-watch-delete-event", () -> {
            need(cw[0], "config fuzzy watch");
            remove(config1, "fz-c", group);
            events.next("DELETE_CONFIG (" + RESOURCE_CHANGED + ") of fz-c/" + group + "/" + namespace,
                    e -> DELETE_CONFIG.equals(e.getChangedType()) && RESOURCE_CHANGED.equals(e.getSyncType())
                            && "fz-c".equals(e.getDataId()) && inNs.test(e));
        });

        step(events, "config.fuzzy-watch-no-event-for-others", () -> {
            need(cw[0], "config fuzzy watch");
            publish(config1, "fz-a", group, "a=2");          // an update of a key the watcher holds
            publish(config1, "nofz-b", group, "b=1");        // data id not matched
            publish(config1, "fz-d", OTHER_GROUP, "d=1");    // group not matched
            publish(config1, "fz-e", group, "e=1");          // matched: must be the only event
            events.next("ADD_CONFIG of fz-e only (no event for an update of fz-a, for nofz-b or for fz-d in "
                    + OTHER_GROUP + ")", e -> ADD_CONFIG.equals(e.getChangedType()) && "fz-e".equals(e.getDataId())
                            && inNs.test(e));
            events.none("after updating fz-a and publishing nofz-b, fz-d in " + OTHER_GROUP + " and fz-e");
        });

        step(events, "config.fuzzy-watch-cancel", () -> {
            ConfigService c = need(cw[0], "config fuzzy watch");
            c.cancelFuzzyWatch(pattern, group, watcher);
            publish(config1, "fz-f", group, "f=1");
            events.none("fz-f published after cancelFuzzyWatch");
        });
    }

    // ------------------------------------------------------------------ naming fuzzy watch

    private static void fuzzyNaming(String namespace, NamingService naming1, NamingService naming2) {
        final String group = Features.GROUP;
        // Explicit service pattern: the one-argument overload uses ".*", which matches names
        // beginning with a dot only.
        final String pattern = "fz-svc-*";
        final Function<String, String> key = s -> namespace + "@@" + group + "@@" + s;
        final Events<FuzzyWatchChangeEvent> events = new Events<>("naming fuzzy", LineFeatures::show);
        final com.alibaba.nacos.api.naming.listener.AbstractFuzzyWatchEventWatcher watcher =
                new com.alibaba.nacos.api.naming.listener.AbstractFuzzyWatchEventWatcher() {
                    @Override
                    public void onEvent(FuzzyWatchChangeEvent event) {
                        events.add(event);
                    }

                    @Override
                    public void onPatternOverLimit() {
                        events.overLimit("onPatternOverLimit");
                    }

                    @Override
                    public void onServiceReachUpLimit() {
                        events.overLimit("onServiceReachUpLimit");
                    }
                };
        final boolean[] watching = new boolean[1];
        final Predicate<FuzzyWatchChangeEvent> inNs =
                e -> group.equals(e.getGroupName()) && namespace.equals(e.getNamespace());

        // naming2 registers, naming1 watches.
        step(events, "naming.fuzzy-watch-initial-keys", () -> {
            naming2.registerInstance("fz-svc-a", group, Features.inst(42001, true, null));
            naming2.registerInstance("fz-svc-b", group, Features.inst(42002, true, null));
            naming2.registerInstance("nofz-svc-a", group, Features.inst(42003, true, null));
            naming2.registerInstance("fz-svc-a", OTHER_GROUP, Features.inst(42004, true, null));
            String call = "fuzzyWatchWithServiceKeys(\"" + pattern + "\", \"" + group + "\")";
            ListView<String> got = init(naming1.fuzzyWatchWithServiceKeys(pattern, group, watcher), call, events);
            watching[0] = true;
            Set<String> want = new TreeSet<>(List.of(key.apply("fz-svc-a"), key.apply("fz-svc-b")));
            if (got == null || got.getData() == null || !new TreeSet<>(got.getData()).equals(want)) {
                throw new Features.Fail(call + " yielded "
                        + (got == null || got.getData() == null ? null : new TreeSet<>(got.getData())) + ", want " + want);
            }
            Set<String> seen = new TreeSet<>();
            while (seen.size() < 2) {
                FuzzyWatchChangeEvent e = events.next("ADD_SERVICE (" + INIT_NOTIFY + ") of fz-svc-a and fz-svc-b",
                        x -> ADD_SERVICE.equals(x.getChangeType()) && INIT_NOTIFY.equals(x.getSyncType())
                                && inNs.test(x) && Set.of("fz-svc-a", "fz-svc-b").contains(x.getServiceName())
                                && !seen.contains(x.getServiceName()));
                seen.add(e.getServiceName());
            }
        });

        step(events, "naming.fuzzy-watch-add-event", () -> {
            need(watching[0] ? Boolean.TRUE : null, "naming fuzzy watch");
            naming2.registerInstance("fz-svc-c", group, Features.inst(42005, true, null));
            events.next("ADD_SERVICE (" + RESOURCE_CHANGED + ") of fz-svc-c/" + group + "/" + namespace,
                    e -> ADD_SERVICE.equals(e.getChangeType()) && RESOURCE_CHANGED.equals(e.getSyncType())
                            && "fz-svc-c".equals(e.getServiceName()) && inNs.test(e));
            // The second instance comes from another client: in Nacos a client holds one
            // instance per service (a second registerInstance replaces the first), and the
            // client's redo task may deregister whichever one it remembers while a
            // deregistration is in flight, so one client registering both is a race.
            naming1.registerInstance("fz-svc-c", group, Features.inst(42006, true, null));
            events.none("second instance registered into fz-svc-c");
        });

        step(events, "naming.fuzzy-watch-delete-event", () -> {
            need(watching[0] ? Boolean.TRUE : null, "naming fuzzy watch");
            naming2.deregisterInstance("fz-svc-c", group, Features.inst(42005, true, null));
            events.none("one of fz-svc-c's two instances deregistered");
            naming1.deregisterInstance("fz-svc-c", group, Features.inst(42006, true, null));
            events.next("DELETE_SERVICE (" + RESOURCE_CHANGED + ") of fz-svc-c/" + group + "/" + namespace,
                    e -> DELETE_SERVICE.equals(e.getChangeType()) && RESOURCE_CHANGED.equals(e.getSyncType())
                            && "fz-svc-c".equals(e.getServiceName()) && inNs.test(e));
        });

        step(events, "naming.fuzzy-watch-no-event-for-others", () -> {
            need(watching[0] ? Boolean.TRUE : null, "naming fuzzy watch");
            naming2.registerInstance("nofz-svc-b", group, Features.inst(42007, true, null));
            naming2.registerInstance("fz-svc-d", OTHER_GROUP, Features.inst(42008, true, null));
            naming2.registerInstance("fz-svc-e", group, Features.inst(42009, true, null));
            events.next("ADD_SERVICE of fz-svc-e only (no event for nofz-svc-b or for fz-svc-d in " + OTHER_GROUP + ")",
                    e -> ADD_SERVICE.equals(e.getChangeType()) && "fz-svc-e".equals(e.getServiceName())
                            && inNs.test(e));
            events.none("after registering nofz-svc-b, fz-svc-d in " + OTHER_GROUP + " and fz-svc-e");
        });

        step(events, "naming.fuzzy-watch-cancel", () -> {
            need(watching[0] ? Boolean.TRUE : null, "naming fuzzy watch");
            naming1.cancelFuzzyWatch(pattern, group, watcher);
            naming2.registerInstance("fz-svc-f", group, Features.inst(42010, true, null));
            events.none("fz-svc-f registered after cancelFuzzyWatch");
        });
    }

    // ------------------------------------------------------------------ distributed lock

    private static void lock(Features.Server srv, String namespace, String id, List<Features.Body> closers) {
        final String key = "java-feat-lock-" + id;
        final String leaseKey = "java-feat-lease-" + id;
        final long leaseMs = 2_000;
        final LockService[] ls = new LockService[2];

        Features.step("lock.clients-create", () -> {
            // Two clients, two connections: a lock's holder is the connection that took it.
            ls[0] = NacosFactory.createLockService(Features.clientProps(srv, namespace, "lock-a"));
            closers.add(ls[0]::shutdown);
            ls[1] = NacosFactory.createLockService(Features.clientProps(srv, namespace, "lock-b"));
            closers.add(ls[1]::shutdown);
        });

        Features.step("lock.acquire", () -> {
            expect(need(ls[0], "lock client A").lock(NLockFactory.getLock(key)), true, "A: lock(" + key + ") of a free lock");
        });

        Features.step("lock.acquire-held-by-other", () -> {
            expect(need(ls[1], "lock client B").lock(NLockFactory.getLock(key)), false, "B: lock(" + key + ") held by A");
        });

        Features.step("lock.not-reentrant", () -> {
            expect(need(ls[0], "lock client A").lock(NLockFactory.getLock(key)), false,
                    "A: lock(" + key + ") again while A holds it");
        });

        Features.step("lock.release-by-non-holder", () -> {
            LockService b = need(ls[1], "lock client B");
            expect(b.unLock(NLockFactory.getLock(key)), false, "B: unLock(" + key + ") held by A");
            expect(b.lock(NLockFactory.getLock(key)), false, "B: lock(" + key + ") after B's refused unLock");
        });

        Features.step("lock.release-by-holder", () -> {
            LockService a = need(ls[0], "lock client A");
            LockService b = need(ls[1], "lock client B");
            expect(a.unLock(NLockFactory.getLock(key)), true, "A: unLock(" + key + ") held by A");
            expect(b.lock(NLockFactory.getLock(key)), true, "B: lock(" + key + ") after A released it");
            expect(a.unLock(NLockFactory.getLock(key)), false, "A: unLock(" + key + ") now held by B");
            expect(b.unLock(NLockFactory.getLock(key)), true, "B: unLock(" + key + ") held by B");
            expect(b.unLock(NLockFactory.getLock(key)), false, "B: unLock(" + key + ") of a free lock");
        });

        Features.step("lock.lease-expiry", () -> {
            LockService a = need(ls[0], "lock client A");
            LockService b = need(ls[1], "lock client B");
            long start = System.nanoTime();
            expect(a.lock(NLockFactory.getLock(leaseKey, leaseMs)), true,
                    "A: lock(" + leaseKey + ", expiredTime " + leaseMs + " ms)");
            expect(b.lock(NLockFactory.getLock(leaseKey)), false, "B: lock(" + leaseKey + ") within A's lease");
            long deadline = start + TimeUnit.MILLISECONDS.toNanos(leaseMs + Features.PUSH_TIMEOUT_MS);
            while (!Boolean.TRUE.equals(b.lock(NLockFactory.getLock(leaseKey)))) {
                if (System.nanoTime() > deadline) {
                    throw new Features.Fail("B: lock(" + leaseKey + ") still refused " + (leaseMs + Features.PUSH_TIMEOUT_MS)
                            + " ms after A took it with a " + leaseMs + " ms lease");
                }
                Thread.sleep(200);
            }
            long ms = (System.nanoTime() - start) / 1_000_000;
            Features.info("lock: B got " + leaseKey + " " + ms + " ms after A took it with a " + leaseMs + " ms lease");
            if (ms < leaseMs - 500) {
                throw new Features.Fail("B: lock(" + leaseKey + ") granted " + ms + " ms after A took it with a "
                        + leaseMs + " ms lease");
            }
            expect(a.unLock(NLockFactory.getLock(leaseKey)), false,
                    "A: unLock(" + leaseKey + ") after its lease ended and B took it");
            expect(b.unLock(NLockFactory.getLock(leaseKey)), true, "B: unLock(" + leaseKey + ") held by B");
        });
    }

    private static void expect(Boolean got, boolean want, String what) throws Features.Fail {
        if (got == null || got != want) {
            throw new Features.Fail(what + " returned " + got + ", want " + want);
        }
        Features.info("lock: " + what + " -> " + got);
    }
}
