#!/usr/bin/env python3
"""A long-running nacos-sdk-python 3.x (gRPC) application for cluster fault
tests: registers one ephemeral instance, subscribes to its service, and
reports on stdout, one JSON line per event, until it is killed.

Env:
  NOCAS_SERVERS   comma-separated host:httpPort list (gRPC = httpPort + 1000)
  NOCAS_SERVICE   service name (group DEFAULT_GROUP, namespace public)
  NOCAS_IP, NOCAS_PORT   the instance to register
  NOCAS_WORKDIR   optional: directory for the SDK's cache and logs (INFO)
Lines:
  {"event":"registered","t":<unix ms>}
  {"event":"view","t":<unix ms>,"ports":[...]}   on every subscription push
SIGTERM deregisters, then exits 0.
"""
import os

os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import asyncio
import json
import logging
import signal
import sys
import tempfile
import time

for name in ("nacos", "v2", "grpc", "asyncio"):
    logging.getLogger(name).setLevel(logging.CRITICAL + 1)
logging.getLogger().handlers[:] = [logging.NullHandler()]

from v2.nacos import (ClientConfigBuilder, GRPCConfig, NacosNamingService,  # noqa: E402
                      RegisterInstanceParam, DeregisterInstanceParam, SubscribeServiceParam)

SERVERS = os.environ["NOCAS_SERVERS"]
SERVICE = os.environ["NOCAS_SERVICE"]
IP = os.environ["NOCAS_IP"]
PORT = int(os.environ["NOCAS_PORT"])


def emit(**fields):
    fields["t"] = int(time.time() * 1000)
    print(json.dumps(fields), flush=True)


async def main():
    tmp = os.environ.get("NOCAS_WORKDIR") or tempfile.mkdtemp(prefix="nocas-soak-py-")
    cfg = (ClientConfigBuilder()
           .server_address(SERVERS)
           .log_level(logging.INFO if os.environ.get("NOCAS_WORKDIR") else logging.CRITICAL)
           .log_dir(os.path.join(tmp, "logs"))
           .cache_dir(os.path.join(tmp, "cache"))
           .load_cache_at_start(False)
           .grpc_config(GRPCConfig(grpc_timeout=3000))
           .build())
    cfg.set_update_cache_when_empty(True)
    naming = await NacosNamingService.create_naming_service(cfg)

    async def on_view(instances):
        emit(event="view", ports=sorted(i.port for i in (instances or [])))

    # An application retries its first registration (a loaded registry may
    # time out), with backoff, for up to a minute.
    deadline = time.monotonic() + 60
    backoff = 0.2
    while True:
        try:
            ok = await naming.register_instance(RegisterInstanceParam(
                service_name=SERVICE, ip=IP, port=PORT, ephemeral=True, weight=1.0,
                enabled=True, healthy=True))
        except Exception as e:  # noqa: BLE001 - any failure is retried
            print(f"register_instance failed: {e}", file=sys.stderr, flush=True)
            ok = False
        if ok:
            break
        if time.monotonic() > deadline:
            print("register_instance kept failing", file=sys.stderr, flush=True)
            sys.exit(1)
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 2.0)
    emit(event="registered")
    await naming.subscribe(SubscribeServiceParam(service_name=SERVICE, subscribe_callback=on_view))

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await naming.deregister_instance(DeregisterInstanceParam(
        service_name=SERVICE, ip=IP, port=PORT, ephemeral=True))
    os._exit(0)


asyncio.run(main())
