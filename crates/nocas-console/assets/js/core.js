// Nocas console: the core every page builds on — DOM building (text only,
// never HTML strings), API calls, hash routing, the session and its
// permissions, live refresh, dialogs, tables, pagers.
'use strict';

const N = { pages: {}, timers: [], generation: 0, state: { session: null, namespaces: [], lang: 'en' } };

// ----- DOM ----------------------------------------------------------------

// h('tag.class', {attr: v, onclick: f}, children...): every string child
// becomes a text node, so stored data is never parsed as HTML.
N.h = function (spec, attrs, ...kids) {
  const [tag, ...classes] = spec.split('.');
  const el = document.createElement(tag || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'value') el.value = v;
      else if (k === 'checked') el.checked = !!v;
      else if (k === 'text') el.textContent = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  N.append(el, kids);
  return el;
};
N.append = function (el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    el.appendChild(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
};
N.clear = function (el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
};
const h = N.h;

let uid = 0;
// A labelled form control: the label is visible and tied to the control.
N.field = function (label, control, hint) {
  if (!control.id) control.id = 'f' + ++uid;
  return h('div.field', null,
    h('label', { for: control.id }, label),
    control,
    hint ? h('small.hint', null, hint) : null);
};
N.input = (name, value, attrs) => h('input', Object.assign({ name, value: value ?? '', type: 'text' }, attrs || {}));
N.select = function (name, options, value, attrs) {
  const s = h('select', Object.assign({ name }, attrs || {}));
  for (const o of options) {
    const [v, label] = Array.isArray(o) ? o : [o, o];
    s.appendChild(h('option', { value: v, selected: v === value }, label));
  }
  s.value = value ?? (options.length ? (Array.isArray(options[0]) ? options[0][0] : options[0]) : '');
  return s;
};
N.button = (label, onclick, cls, attrs) => h('button' + (cls ? '.' + cls : ''), Object.assign({ type: 'button', onclick }, attrs || {}), label);
N.link = (label, href, attrs) => h('a', Object.assign({ href }, attrs || {}), label);

N.fmtTime = function (ms) {
  if (!ms) return '-';
  const d = new Date(Number(ms));
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
};
N.fmtDuration = function (ms) {
  const s = Math.floor(ms / 1000), d = Math.floor(s / 86400), hh = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  return d ? `${d}d ${hh}h` : hh ? `${hh}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
};

// ----- messages -------------------------------------------------------------

N.flash = function (msg, kind) {
  const box = document.getElementById('flash');
  if (!box) return;
  // The same message again (a poll failing every second) is not repeated.
  if ([...box.children].some((c) => c.firstChild && c.firstChild.textContent === msg)) return;
  const item = h('div.msg.' + (kind || 'ok'), { role: kind === 'error' ? 'alert' : 'status' },
    h('span', null, msg),
    N.button(N.t('Dismiss'), () => item.remove(), 'link'));
  box.appendChild(item);
  if (kind !== 'error') setTimeout(() => item.remove(), 4000);
};
N.fail = (e) => N.flash(e && e.message ? e.message : String(e), 'error');

// ----- API --------------------------------------------------------------------

N.token = () => sessionStorage.getItem('nocas.token') || '';
N.setToken = (t) => (t ? sessionStorage.setItem('nocas.token', t) : sessionStorage.removeItem('nocas.token'));

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}
N.ApiError = ApiError;

// Calls the API: parameters go in the query (GET, DELETE) or a form body;
// the token goes in a header, never in a URL. Answers in the
// {code, message, data} envelope are unwrapped.
N.api = async function (method, path, params, headers) {
  const body = N.query(params);
  if (method === 'GET' || method === 'DELETE') return N.send(method, path, body, null, headers);
  return N.send(method, path, null, body, headers);
};
N.query = function (params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null) q.append(k, String(v));
  }
  return q;
};
// Sends a request with `query` in the URL and `body` (form, FormData or a
// JSON string) as the body; `raw` answers the Response itself (downloads).
N.send = async function (method, path, query, body, headers, raw) {
  let url = '/nacos' + path;
  const q = query ? query.toString() : '';
  if (q) url += '?' + q;
  const init = { method, headers: Object.assign({}, headers || {}), credentials: 'omit', cache: 'no-store' };
  if (N.token()) init.headers.Authorization = 'Bearer ' + N.token();
  if (body !== null && body !== undefined) init.body = body;
  let resp;
  try {
    resp = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, N.t('The server cannot be reached'));
  }
  if (raw && resp.ok) return resp;
  const text = await resp.text();
  let data = text;
  try { data = JSON.parse(text); } catch (_) { /* plain text answer */ }
  const envelope = data && typeof data === 'object' && !Array.isArray(data) && 'code' in data && 'data' in data;
  if (!resp.ok || (envelope && data.code !== 0 && data.code !== 200)) {
    let why = (data && typeof data === 'object' && data.message) || (typeof data === 'string' && data) || resp.statusText;
    // v2/v3 errors put the reason in `data` under a generic message.
    if (envelope && typeof data.data === 'string' && data.data && !why.includes(data.data)) why += ': ' + data.data;
    if (resp.status === 401 || (resp.status === 403 && /token/i.test(why))) {
      N.setToken('');
      N.state.session = null;
      if (!location.hash.startsWith('#/login')) N.go('/login', { next: location.hash.slice(1) });
    }
    throw new ApiError(resp.status, `${resp.status === 403 ? N.t('Refused') + ': ' : ''}${why}`);
  }
  return envelope ? data.data : data;
};
N.get = (path, params) => N.api('GET', path, params);

// ----- session and permissions ------------------------------------------

N.loadSession = async function () {
  N.state.session = await N.get('/v3/console/session');
  await N.loadNamespaces();
  return N.state.session;
};
N.loadNamespaces = async function () {
  N.state.namespaces = await N.get('/v3/admin/core/namespace/list');
};
N.access = function (ns) {
  const s = N.state.session;
  if (!s) return { read: false, write: false };
  if (s.admin) return { read: true, write: true };
  return (s.namespaces || []).find((n) => n.namespace === ns) || { read: false, write: false };
};
N.canWrite = (ns) => N.access(ns).write;
N.isAdmin = () => !!(N.state.session && N.state.session.admin);

// ----- routing ------------------------------------------------------------------

// URLs are #/page?query: every page and resource has its own address, and
// back and forward work. The namespace travels in the query as `ns`.
N.route = function () {
  const raw = location.hash.replace(/^#/, '') || '/overview';
  const [path, qs] = raw.split('?');
  return { path, q: Object.fromEntries(new URLSearchParams(qs || '')) };
};
N.href = function (path, q) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q || {})) {
    if (v !== undefined && v !== null && v !== '') params.set(k, v);
  }
  const qs = params.toString();
  return '#' + path + (qs ? '?' + qs : '');
};
N.go = (path, q) => { location.hash = N.href(path, q); };
// The current namespace: from the URL, else the last one chosen.
N.ns = function () {
  return N.route().q.ns || localStorage.getItem('nocas.ns') || 'public';
};
N.nsq = (extra) => Object.assign({ ns: N.ns() }, extra || {});

// Repeats `fn` every `ms` while this page is shown and the tab visible,
// never two at once (a slow answer is not overtaken by the next one).
// A page still loading when the user moved on registers nothing.
N.every = function (ms, fn) {
  const gen = N.generation;
  if (gen !== N.rendering) return;
  let busy = false;
  const t = setInterval(async () => {
    // Not while a button is held down: a redraw then would eat the click.
    if (document.hidden || busy || N.pointerDown || gen !== N.generation) return;
    busy = true;
    try { await fn(); } finally { busy = false; }
  }, ms);
  N.timers.push(t);
};
document.addEventListener('pointerdown', () => { N.pointerDown = true; }, true);
document.addEventListener('pointerup', () => { N.pointerDown = false; }, true);
document.addEventListener('pointercancel', () => { N.pointerDown = false; }, true);
N.stopTimers = function () {
  N.timers.forEach(clearInterval);
  N.timers = [];
};

// ----- dialogs --------------------------------------------------------------------

// A modal <dialog> (Escape closes it, focus stays inside). `build(close)`
// returns its body; resolves with what `close` was given.
N.dialog = function (title, build) {
  return new Promise((resolve) => {
    const d = h('dialog', { 'aria-labelledby': 'dlg-title' });
    let result;
    const close = (v) => { result = v; d.close(); };
    const opener = document.activeElement;
    d.addEventListener('close', () => {
      d.remove();
      // Focus goes back where it was, or to the page if that is gone.
      const main = document.getElementById('main');
      if (opener && opener.isConnected && opener.focus) opener.focus();
      else if (main) main.focus({ preventScroll: true });
      resolve(result);
    });
    N.append(d, [h('h2', { id: 'dlg-title' }, title), build(close)]);
    document.body.appendChild(d);
    d.showModal();
  });
};
// Cancel has the focus, so Enter alone never confirms a deletion.
N.confirm = function (message, okLabel) {
  return N.dialog(N.t('Please confirm'), (close) => h('div', null,
    h('p', null, message),
    h('div.actions', null,
      N.button(okLabel || N.t('OK'), () => close(true), 'danger'),
      N.button(N.t('Cancel'), () => close(false), null, { autofocus: true }))));
};
// A form in a dialog: `fields` are [name, label, control]; resolves with
// the values, or undefined when cancelled.
N.formDialog = function (title, fields, submitLabel) {
  return N.dialog(title, (close) => {
    const form = h('form.stack', {
      onsubmit: (e) => {
        e.preventDefault();
        const v = {};
        for (const [name, , c] of fields) v[name] = c.type === 'checkbox' ? c.checked : c.value;
        close(v);
      },
    });
    for (const [, label, c] of fields) form.appendChild(N.field(label, c));
    form.appendChild(h('div.actions', null,
      h('button.primary', { type: 'submit' }, submitLabel || N.t('Save')),
      N.button(N.t('Cancel'), () => close(undefined))));
    return form;
  });
};

// ----- tables and pagers --------------------------------------------------------

// columns: [{title, cell(row) -> node|string, cls}]
N.table = function (columns, rows, empty) {
  if (!rows.length) return h('p.empty', null, empty || N.t('Nothing here yet.'));
  return h('div.scroll', null, h('table', null,
    h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.cls }, c.title)))),
    h('tbody', null, rows.map((r) => h('tr', null, columns.map((c) => h('td', { class: c.cls, 'data-label': c.title }, c.cell(r))))))));
};
N.pager = function (total, pageNo, pageSize, go) {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  return h('nav.pager', { 'aria-label': N.t('Pages') },
    N.button(N.t('Previous'), () => go(pageNo - 1), null, { disabled: pageNo <= 1 }),
    h('span', null, `${N.t('Page')} ${pageNo} / ${pages} · ${total} ${N.t('items')}`),
    N.button(N.t('Next'), () => go(pageNo + 1), null, { disabled: pageNo >= pages }));
};
N.badge = (text, kind) => h('span.badge.' + (kind || 'plain'), null, text);
N.yesNo = (v, goodWhenTrue) => N.badge(v ? N.t('yes') : N.t('no'), (v === (goodWhenTrue !== false)) ? 'good' : 'bad');

// A page's title bar with optional actions.
N.titleBar = (title, ...actions) => h('div.titlebar', null, h('h1', null, title), h('div.actions', null, actions));
N.readOnlyNote = (ns) => (N.canWrite(ns) ? null : h('p.note', { role: 'note' }, N.t('Read-only: you may view this namespace but not change it.')));
// A block that re-renders in place (keeps the rest of the page, and focus
// in filter forms, untouched).
N.slot = () => h('div.slot');
N.fill = (slot, ...kids) => N.append(N.clear(slot), kids);
// Whether `data` is what `slot` last showed; lists that poll redraw only
// on a change, so focus, selections and a click in progress survive.
N.same = function (slot, data) {
  const json = JSON.stringify(data);
  if (slot.dataset.shown === json) return true;
  slot.dataset.shown = json;
  return false;
};
// Parses a metadata text (JSON object, or k=v lines) to a JSON string.
N.metadataJson = function (text) {
  const t = (text || '').trim();
  if (!t) return '{}';
  if (t.startsWith('{')) {
    JSON.parse(t);
    return t;
  }
  const o = {};
  for (const line of t.split('\n')) {
    if (!line.trim()) continue;
    const i = line.indexOf('=');
    if (i < 1) throw new Error(N.t('Metadata lines are key=value') + ': ' + line);
    o[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return JSON.stringify(o);
};
N.metadataText = (m) => Object.entries(m || {}).map(([k, v]) => `${k}=${v}`).join('\n');
