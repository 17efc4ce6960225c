#!/usr/bin/env node
// Interop test: the npm `nacos` naming client (HTTP v1) subscribes, and a
// change made by another client reaches its callback by UDP push, well
// before its next poll (the server's cacheMillis, 10 s by default).
// Run: NOCAS_ADDR=127.0.0.1:8848 node udp_push.js
// Prints the measured push latencies and `RESULT: PASS` / `RESULT: FAIL`.
'use strict';

const crypto = require('crypto');
if (!process.env.NODE_CLUSTER_CLIENT_PORT) {
  process.env.NODE_CLUSTER_CLIENT_PORT = String(30000 + crypto.randomInt(20000));
}
const { NacosNamingClient } = require('nacos');

const ADDR = process.env.NOCAS_ADDR || '127.0.0.1:8848';
const SERVICE = 'node-udp-' + crypto.randomBytes(4).toString('hex');
const GROUP = 'DEFAULT_GROUP';
const IP = '127.0.0.1';
// Well under the poll interval: a change seen this fast came by push.
const PUSH_BOUND_MS = Number(process.env.NOCAS_PUSH_BOUND_MS || 2000);
const noop = () => {};
const logger = { debug: noop, info: noop, warn: console.error.bind(console), error: console.error.bind(console) };
const log = m => console.log('[node-udp] ' + m);
setTimeout(() => { log('watchdog: RESULT: FAIL'); process.exit(2); }, 60000).unref();

function waiter() {
  const seen = [];
  let pending = null;
  return {
    push(v) {
      seen.push(v);
      if (pending && pending.pred(v)) { const p = pending; pending = null; clearTimeout(p.t); p.resolve(v); }
    },
    wait(pred, ms) {
      const hit = seen.find(pred);
      if (hit !== undefined) return Promise.resolve(hit);
      return new Promise(resolve => {
        pending = { pred, resolve, t: setTimeout(() => { pending = null; resolve(null); }, ms) };
      });
    },
  };
}
const ports = hosts => (hosts || []).map(h => Number(h.port)).sort();

async function main() {
  const base = 20000 + crypto.randomInt(20000);
  const subscriber = new NacosNamingClient({ logger, serverList: ADDR, namespace: 'public' });
  const other = new NacosNamingClient({ logger, serverList: ADDR, namespace: 'public' });
  await subscriber.ready();
  await other.ready();
  await other.registerInstance(SERVICE, { ip: IP, port: base }, GROUP);
  const calls = waiter();
  subscriber.subscribe({ serviceName: SERVICE, groupName: GROUP }, h => calls.push({ t: Date.now(), ports: ports(h) }));
  if (!await calls.wait(c => c.ports.includes(base), 15000)) throw new Error('no initial callback');
  const latencies = [];
  // Joins and leaves, each timed from the change to the callback.
  for (let i = 1; i <= 5; i++) {
    const t0 = Date.now();
    await other.registerInstance(SERVICE, { ip: IP, port: base + i }, GROUP);
    const joined = await calls.wait(c => c.t >= t0 && c.ports.includes(base + i), PUSH_BOUND_MS);
    if (!joined) throw new Error(`join of ${base + i} not pushed within ${PUSH_BOUND_MS} ms`);
    latencies.push(joined.t - t0);
    const t1 = Date.now();
    await other.deregisterInstance(SERVICE, { ip: IP, port: base + i }, GROUP);
    const left = await calls.wait(c => c.t >= t1 && !c.ports.includes(base + i), PUSH_BOUND_MS);
    if (!left) throw new Error(`leave of ${base + i} not pushed within ${PUSH_BOUND_MS} ms`);
    latencies.push(left.t - t1);
  }
  latencies.sort((a, b) => a - b);
  log(`push latency ms (register/deregister call to callback): min ${latencies[0]} median ${latencies[latencies.length >> 1]} max ${latencies[latencies.length - 1]}`);
  await other.deregisterInstance(SERVICE, { ip: IP, port: base }, GROUP);
  subscriber.close();
  other.close();
}

main().then(() => { log('RESULT: PASS'); process.exit(0); })
  .catch(e => { log('FAIL: ' + e.message); log('RESULT: FAIL'); process.exit(1); });
