#!/usr/bin/env python3
"""Interop test: nacos-sdk-python 2.0.x HTTP v1 client (nacos.NacosClient) against a Nacos-compatible server.

Env:
  NOCAS_ADDR          host:port of the server (default 127.0.0.1:8848)
  NOCAS_NAMESPACE     namespace/tenant to use; unset -> unique "it-py-<id>", "" -> default (public)
  NOCAS_TEST_ID       suffix for service/dataId names (default random)
  NOCAS_USERNAME / NOCAS_PASSWORD   optional; if both set the SDK calls POST /nacos/v1/auth/login
  NOCAS_SUB_TIMEOUT   seconds to wait for the naming subscribe callback (default 30)
  NOCAS_CFG_TIMEOUT   seconds to wait for the config watcher callback (default 30)
  NOCAS_TOTAL_TIMEOUT hard watchdog for the whole script (default 150)
  NOCAS_DEBUG=1       SDK logs at DEBUG to stderr
Requires: pip install --no-deps nacos-sdk-python==2.0.11   (the v1 client itself only uses the stdlib)
"""
import logging
import os
import queue
import random
import sys
import tempfile
import threading
import time
import uuid

ADDR = os.environ.get("NOCAS_ADDR", "127.0.0.1:8848")
TEST_ID = os.environ.get("NOCAS_TEST_ID") or uuid.uuid4().hex[:8]
NS = os.environ.get("NOCAS_NAMESPACE", "it-py-" + TEST_ID)
SERVICE = "py-svc-" + TEST_ID
DATA_ID = "py-cfg-" + TEST_ID + ".properties"
GROUP = "DEFAULT_GROUP"
IP = "127.0.0.1"
SUB_INTERVAL = 2  # seconds between GET /instance/list polls (SDK default is 7)
SUB_TIMEOUT = float(os.environ.get("NOCAS_SUB_TIMEOUT", "30"))
CFG_TIMEOUT = float(os.environ.get("NOCAS_CFG_TIMEOUT", "30"))
TOTAL_TIMEOUT = float(os.environ.get("NOCAS_TOTAL_TIMEOUT", "150"))

logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if os.environ.get("NOCAS_DEBUG") else logging.WARNING,
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")

from nacos import NacosClient  # noqa: E402
from nacos.listener import SubscribeListener  # noqa: E402

client = None
results = []  # (name, ok, detail)


class StepFailed(Exception):
    pass


def log(msg):
    print("[py-v1] " + msg, flush=True)


def step(name, ok, detail=""):
    results.append((name, bool(ok), detail))
    log("%s %s%s" % ("PASS" if ok else "FAIL", name, (": " + detail) if detail else ""))
    if not ok:
        raise StepFailed(name)


def retry(fn, timeout=5.0, interval=0.25):
    """Call fn until it returns a truthy value or timeout; returns the last value."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() >= deadline:
            return v
        time.sleep(interval)


def hard_exit(code):
    # NacosTimer uses non-daemon threading.Timer and add_config_watcher starts a multiprocessing
    # Manager process: stop both explicitly, then os._exit so a racing timer cannot hang us.
    try:
        if client is not None:
            client.stop_subscribe()
            if client.process_mgr is not None:
                client.process_mgr.shutdown()
    except Exception:
        pass
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def watchdog():
    log("FAIL watchdog: script exceeded %ss" % TOTAL_TIMEOUT)
    hard_exit(2)


def hosts_of(res):
    return [(h.get("ip"), int(h.get("port"))) for h in (res or {}).get("hosts") or []]


def main():
    global client
    workdir = tempfile.mkdtemp(prefix="nocas-py-v1-")
    log("server=%s namespace=%r service=%s dataId=%s workdir=%s" % (ADDR, NS, SERVICE, DATA_ID, workdir))
    client = NacosClient(ADDR, namespace=NS, username=os.environ.get("NOCAS_USERNAME"),
                         password=os.environ.get("NOCAS_PASSWORD"), logDir=workdir)
    client.set_options(default_timeout=5,
                       failover_base=os.path.join(workdir, "failover"),
                       snapshot_base=os.path.join(workdir, "snapshot"))

    port_a = random.randint(20000, 40000)
    port_b = port_a + 1

    # ---------------- naming ----------------
    ok = client.add_naming_instance(SERVICE, IP, port_a, cluster_name="DEFAULT", ephemeral=True,
                                    metadata={"it": "py"}, heartbeat_interval=5)
    step("register instance A", ok is True, "POST /nacos/v1/ns/instance must answer body 'ok'")

    res = retry(lambda: (IP, port_a) in hosts_of(client.list_naming_instance(SERVICE)) and True)
    step("list shows A", res, "hosts=%s" % hosts_of(client.list_naming_instance(SERVICE)))

    events = queue.Queue()

    def on_event(event, slc):
        events.put((event, slc.instance))

    # subscribe() polls GET /instance/list every SUB_INTERVAL s; first poll is synchronous and
    # never notifies (it only caches). Raises if that first poll fails.
    client.subscribe(SubscribeListener(fn=on_event, listener_name="it"), listener_interval=SUB_INTERVAL,
                     service_name=SERVICE)

    ok = client.add_naming_instance(SERVICE, IP, port_b, cluster_name="DEFAULT", ephemeral=True,
                                    heartbeat_interval=5)
    step("register instance B", ok is True)

    got = None
    deadline = time.time() + SUB_TIMEOUT
    while time.time() < deadline and got is None:
        try:
            ev, inst = events.get(timeout=0.5)
        except queue.Empty:
            continue
        if ev == "ADDED" and inst.get("ip") == IP and int(inst.get("port")) == port_b:
            got = inst
    step("subscribe callback ADDED B", got is not None, "waited <= %ss (poll every %ss)" % (SUB_TIMEOUT, SUB_INTERVAL))

    ok = client.remove_naming_instance(SERVICE, IP, port_b, cluster_name="DEFAULT", ephemeral=True)
    step("deregister B", ok is True, "DELETE /nacos/v1/ns/instance must answer body 'ok'")
    ok = client.remove_naming_instance(SERVICE, IP, port_a, cluster_name="DEFAULT", ephemeral=True)
    step("deregister A", ok is True)
    res = retry(lambda: not ({(IP, port_a), (IP, port_b)} & set(hosts_of(client.list_naming_instance(SERVICE)))))
    step("list no longer shows A/B", res, "hosts=%s" % hosts_of(client.list_naming_instance(SERVICE)))
    client.stop_subscribe()

    # ---------------- config ----------------
    v1 = "k=v1-" + TEST_ID
    v2 = "k=v2-" + TEST_ID
    ok = client.publish_config(DATA_ID, GROUP, v1)
    step("publish v1", ok is True, "POST /nacos/v1/cs/configs must answer body 'true'")
    content = retry(lambda: client.get_config(DATA_ID, GROUP, no_snapshot=True) == v1)
    step("get v1", content, "got %r" % client.get_config(DATA_ID, GROUP, no_snapshot=True))

    changes = queue.Queue()

    def on_change(params):
        changes.put(params.get("content"))

    client.add_config_watcher(DATA_ID, GROUP, on_change, content=v1)
    time.sleep(1.5)  # let the puller thread start its first long poll
    ok = client.publish_config(DATA_ID, GROUP, v2)
    step("publish v2", ok is True)
    got = None
    deadline = time.time() + CFG_TIMEOUT
    while time.time() < deadline and got != v2:
        try:
            got = changes.get(timeout=0.5)
        except queue.Empty:
            pass
    step("watcher callback with v2", got == v2, "last callback content=%r, waited <= %ss" % (got, CFG_TIMEOUT))
    client.remove_config_watcher(DATA_ID, GROUP, on_change)

    ok = client.remove_config(DATA_ID, GROUP)
    step("remove config", ok is True, "DELETE /nacos/v1/cs/configs must answer body 'true'")
    content = client.get_config(DATA_ID, GROUP, no_snapshot=True)
    step("get after remove is None (404)", content is None, "got %r" % content)


if __name__ == "__main__":
    wd = threading.Timer(TOTAL_TIMEOUT, watchdog)
    wd.daemon = True
    wd.start()
    code = 0
    try:
        main()
    except StepFailed:
        code = 1
    except Exception as e:  # SDK raised (NacosException / HTTPError / URLError ...)
        log("FAIL unexpected exception: %r" % (e,))
        import traceback
        traceback.print_exc()
        code = 1
    passed = sum(1 for r in results if r[1])
    failed = len(results) - passed + (1 if code and all(r[1] for r in results) else 0)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    log("RESULT: %s" % ("PASS" if code == 0 else "FAIL"))
    hard_exit(code)
