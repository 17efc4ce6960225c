#!/usr/bin/env node
// Interop test: npm `nacos` 2.x (NacosNamingClient + NacosConfigClient, HTTP v1) against a Nacos-compatible server.
// CommonJS (the package has no ESM entry).  Run:  NOCAS_ADDR=127.0.0.1:18848 node node_v1_interop.js
// Env: NOCAS_ADDR, NOCAS_NAMESPACE (unset -> unique "it-node-<id>", "" -> default/public), NOCAS_TEST_ID,
//      NOCAS_USERNAME/NOCAS_PASSWORD (sent as plain query/form params by this SDK, no login call),
//      NOCAS_SUB_TIMEOUT / NOCAS_CFG_TIMEOUT (s, default 30), NOCAS_TOTAL_TIMEOUT (s, default 150), NOCAS_DEBUG=1
'use strict';

const os = require('os');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

// NacosConfigClient is wrapped by `cluster-client`, which elects a leader by listening on
// 127.0.0.1:$NODE_CLUSTER_CLIENT_PORT (default 7777, read at require time). A stale/parallel
// process on that port would make us a *follower* of someone else's client: use a private port.
if (!process.env.NODE_CLUSTER_CLIENT_PORT) {
  process.env.NODE_CLUSTER_CLIENT_PORT = String(30000 + crypto.randomInt(20000));
}
const { NacosNamingClient, NacosConfigClient } = require('nacos');

const ADDR = process.env.NOCAS_ADDR || '127.0.0.1:8848';
const TEST_ID = process.env.NOCAS_TEST_ID || crypto.randomBytes(4).toString('hex');
const NS = process.env.NOCAS_NAMESPACE !== undefined ? process.env.NOCAS_NAMESPACE : 'it-node-' + TEST_ID;
const SERVICE = 'node-svc-' + TEST_ID;
const DATA_ID = 'node-cfg-' + TEST_ID + '.properties';
const GROUP = 'DEFAULT_GROUP';
const IP = '127.0.0.1';
const SUB_TIMEOUT = Number(process.env.NOCAS_SUB_TIMEOUT || 30) * 1000;
const CFG_TIMEOUT = Number(process.env.NOCAS_CFG_TIMEOUT || 30) * 1000;
const TOTAL_TIMEOUT = Number(process.env.NOCAS_TOTAL_TIMEOUT || 150) * 1000;
const DEBUG = !!process.env.NOCAS_DEBUG;
const AUTH = process.env.NOCAS_USERNAME && process.env.NOCAS_PASSWORD
  ? { username: process.env.NOCAS_USERNAME, password: process.env.NOCAS_PASSWORD } : {};

const noop = () => {};
const logger = { // NacosNamingClient requires options.logger
  debug: DEBUG ? console.error.bind(console) : noop,
  info: DEBUG ? console.error.bind(console) : noop,
  warn: console.error.bind(console),
  error: console.error.bind(console),
};

const results = [];
class StepFailed extends Error {}
const log = m => console.log('[node-v1] ' + m);
function step(name, ok, detail) {
  results.push([name, !!ok]);
  log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ': ' + detail : ''}`);
  if (!ok) throw new StepFailed(name);
}
const sleep = ms => new Promise(r => setTimeout(r, ms));
async function retry(fn, timeoutMs = 5000, intervalMs = 250) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v || Date.now() >= end) return v;
    await sleep(intervalMs);
  }
}
// waiter: resolves with the first value pushed that satisfies pred, or null on timeout
function makeWaiter() {
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
    clear() { seen.length = 0; },
  };
}
const hasHost = (hosts, port) => (hosts || []).some(h => h.ip === IP && Number(h.port) === port);
const fmtHosts = hosts => JSON.stringify((hosts || []).map(h => `${h.ip}:${h.port}`));

let naming = null;
let config = null;

async function main() {
  log(`server=${ADDR} namespace=${JSON.stringify(NS)} service=${SERVICE} dataId=${DATA_ID}`);
  const portA = 20000 + crypto.randomInt(20000);
  const portB = portA + 1;

  // ---------------- naming ----------------
  naming = new NacosNamingClient(Object.assign({ logger, serverList: ADDR, namespace: NS || 'public' }, AUTH));
  naming.on('error', e => logger.error('[naming error]', e.message));
  await naming.ready();

  await naming.registerInstance(SERVICE, { ip: IP, port: portA, metadata: { it: 'node' } }, GROUP);
  step('register instance A', true);

  // default getAllInstances => subscribe=true, clusters='' => cached under key "DEFAULT_GROUP@@svc"
  let hosts = await naming.getAllInstances(SERVICE, GROUP);
  if (!hasHost(hosts, portA)) {
    const direct = await retry(async () => {
      const h = await naming.getAllInstances(SERVICE, GROUP, '', false);
      return hasHost(h, portA) ? h : null;
    });
    step('getAllInstances shows A', false, direct
      ? `direct query sees A but cached lookup does not: response "name"/"clusters" must be "${GROUP}@@${SERVICE}"/""`
      : `hosts=${fmtHosts(hosts)}`);
  }
  step('getAllInstances shows A', true, fmtHosts(hosts));

  const subCalls = makeWaiter();
  // subscribe => GET /instance/list with clusters=DEFAULT, then re-polls every response.cacheMillis ms
  naming.subscribe({ serviceName: SERVICE, groupName: GROUP }, h => {
    if (DEBUG) log('subscribe callback hosts=' + fmtHosts(h));
    subCalls.push(h);
  });
  const first = await subCalls.wait(h => hasHost(h, portA), 15000);
  step('subscribe initial callback contains A', first,
    'needs response name="' + GROUP + '@@' + SERVICE + '" and clusters="DEFAULT" (echo of query)');

  await naming.registerInstance(SERVICE, { ip: IP, port: portB }, GROUP);
  step('register instance B', true);
  const withB = await subCalls.wait(h => hasHost(h, portB), SUB_TIMEOUT);
  step('subscribe callback contains B', withB, withB ? fmtHosts(withB) : `no callback within ${SUB_TIMEOUT / 1000}s`);

  await naming.deregisterInstance(SERVICE, { ip: IP, port: portB }, GROUP);
  step('deregister B', true);
  // NB: the SDK ignores an *empty* host list (ServiceInfo.isValid), so only check while A still exists
  hosts = await retry(async () => {
    const h = await naming.getAllInstances(SERVICE, GROUP, '', false);
    return hasHost(h, portA) && !hasHost(h, portB) ? h : null;
  });
  step('list after deregister B shows only A', hosts, fmtHosts(hosts));
  await naming.deregisterInstance(SERVICE, { ip: IP, port: portA }, GROUP);
  step('deregister A', true);

  // ---------------- config ----------------
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nocas-node-v1-'));
  config = new NacosConfigClient(Object.assign({ serverAddr: ADDR, namespace: NS || undefined, cacheDir, requestTimeout: 5000 }, AUTH));
  config.on('error', e => logger.error('[config error]', e.message));
  await config.ready();

  const v1 = 'k=v1-' + TEST_ID;
  const v2 = 'k=v2-' + TEST_ID;
  await config.publishSingle(DATA_ID, GROUP, v1); // always resolves true on HTTP 200 *or 404*
  step('publish v1', true);
  const got1 = await retry(async () => (await config.getConfig(DATA_ID, GROUP)) === v1);
  step('getConfig v1', got1, 'got ' + JSON.stringify(await config.getConfig(DATA_ID, GROUP)));

  const cfgCalls = makeWaiter();
  // subscribe => immediate GET (listener called with current content), then long-poll loop
  config.subscribe({ dataId: DATA_ID, group: GROUP }, content => {
    if (DEBUG) log('config callback ' + JSON.stringify(content));
    cfgCalls.push(content);
  });
  step('config listener initial callback v1', (await cfgCalls.wait(c => c === v1, 10000)) === v1);
  await sleep(500); // let the first long poll (with md5(v1)) reach the server
  await config.publishSingle(DATA_ID, GROUP, v2);
  step('publish v2', true);
  const got2 = await cfgCalls.wait(c => c === v2, CFG_TIMEOUT);
  step('config listener callback v2', got2 === v2, `waited <= ${CFG_TIMEOUT / 1000}s`);

  await config.remove(DATA_ID, GROUP);
  step('remove config', true);
  const gone = await config.getConfig(DATA_ID, GROUP);
  step('getConfig after remove is null (404)', gone === null, 'got ' + JSON.stringify(gone));
}

async function shutdown(code) {
  const closeWithTimeout = p => Promise.race([Promise.resolve(p).catch(noop), sleep(3000)]);
  try { if (naming) await closeWithTimeout(naming.close()); } catch (_) { /* ignore */ }
  try { if (config) await closeWithTimeout(config.close()); } catch (_) { /* ignore */ }
  const passed = results.filter(r => r[1]).length;
  let failed = results.length - passed;
  if (code && failed === 0) failed = 1;
  console.log(`${passed} passed, ${failed} failed`);
  log('RESULT: ' + (code === 0 ? 'PASS' : 'FAIL'));
  process.exit(code);
}

setTimeout(() => { log(`FAIL watchdog: script exceeded ${TOTAL_TIMEOUT / 1000}s`); process.exit(2); }, TOTAL_TIMEOUT).unref();
main().then(() => shutdown(0), err => {
  if (!(err instanceof StepFailed)) log('FAIL unexpected exception: ' + (err && err.stack || err));
  return shutdown(1);
});
