// Overview: members and their Raft progress, counts, version and uptime,
// and live charts drawn from the server's own running totals.

N.samples = [];

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  return el;
}

// A small line chart of `values` (numbers or null), with its latest value.
N.chart = function (title, values, unit) {
  const w = 240, hgt = 60;
  const nums = values.filter((v) => v !== null && Number.isFinite(v));
  const max = Math.max(1e-9, ...nums);
  const pts = values.map((v, i) => [values.length < 2 ? 0 : (i / (values.length - 1)) * w, v === null ? null : hgt - (v / max) * (hgt - 4) - 2]);
  const s = svg('svg', { viewBox: `0 0 ${w} ${hgt}`, class: 'chart', role: 'img', 'aria-label': title });
  const line = pts.filter((p) => p[1] !== null).map((p) => `${p[0].toFixed(1)},${p[1].toFixed(1)}`).join(' ');
  if (line) s.appendChild(svg('polyline', { points: line, fill: 'none', class: 'chart-line' }));
  const last = nums.length ? nums[nums.length - 1] : null;
  const fmt = (v) => (v === null ? '-' : Number.isInteger(v) || v >= 100 ? Math.round(v) : v.toFixed(v >= 10 ? 1 : 2));
  return h('figure.card.chart-card', null,
    h('figcaption', null, title, h('strong', null, ` ${fmt(last)} ${unit}`)),
    s,
    h('small.hint', null, `${N.t('max')} ${fmt(nums.length ? Math.max(...nums) : null)} ${unit}`));
};

N.members = async function () {
  const list = await N.get('/v3/admin/core/cluster/node/list');
  const leader = list.find((m) => m.extendInfo?.raftMetaData?.state === 'Leader');
  const top = leader?.extendInfo?.raftMetaData?.lastLogIndex ?? Math.max(0, ...list.map((m) => m.extendInfo?.raftMetaData?.lastApplied ?? 0));
  return list.map((m) => {
    const r = m.extendInfo?.raftMetaData || {};
    return {
      id: m.extendInfo?.nodeId, address: m.address, state: m.state, role: r.state || '-', term: r.term ?? '-',
      leader: r.leader ?? '-', lastApplied: r.lastApplied ?? '-',
      lag: typeof r.lastApplied === 'number' ? Math.max(0, top - r.lastApplied) : '-',
      version: m.extendInfo?.version || '-',
    };
  });
};
N.memberTable = (rows, extra) => N.table([
  { title: N.t('Node'), cell: (m) => String(m.id ?? '-') },
  { title: N.t('Address'), cell: (m) => m.address },
  { title: N.t('State'), cell: (m) => N.badge(m.state, m.state === 'UP' ? 'good' : 'bad') },
  { title: N.t('Role'), cell: (m) => m.role },
  { title: N.t('Term'), cell: (m) => String(m.term) },
  { title: N.t('Leader'), cell: (m) => String(m.leader) },
  { title: N.t('Last applied'), cell: (m) => String(m.lastApplied) },
  { title: N.t('Lag'), cell: (m) => String(m.lag) },
  { title: N.t('Version'), cell: (m) => m.version },
].concat(extra || []), rows);

N.pages['/overview'] = async function (q, main) {
  const counts = N.slot(), charts = N.slot(), members = N.slot(), about = N.slot();
  N.append(main, [N.titleBar(N.t('Overview')), about, counts,
    h('h2', null, N.t('Live')), charts,
    h('h2', null, N.t('Members')), members]);
  const card = (label, value, note) => h('div.card.stat', null, h('span.label', null, label), h('strong', null, String(value)), note ? h('small.hint', null, note) : null);
  const refresh = async () => {
    const s = await N.get('/v3/console/summary');
    const prev = N.samples[N.samples.length - 1];
    const point = { t: s.time, totals: s.totals, conns: s.counts.connections };
    if (prev && point.t > prev.t) {
      const dt = (point.t - prev.t) / 1000;
      const d = (k) => point.totals[k] - prev.totals[k];
      point.rate = (d('httpRequests') + d('grpcRequests')) / dt;
      point.push = d('pushes') > 0 ? d('pushMicros') / d('pushes') / 1000 : null;
    }
    N.samples.push(point);
    if (N.samples.length > 60) N.samples.shift();
    const c = s.counts;
    N.fill(about, h('p', null, `${N.t('Version')} ${s.version} · ${N.t('node')} ${s.nodeId} · ${N.t('up')} ${N.fmtDuration(s.uptimeMs)}`));
    N.fill(counts, h('div.cards', null,
      card(N.t('Namespaces'), c.namespaces),
      card(N.t('Services'), c.services),
      card(N.t('Instances'), c.instances, `${c.healthyInstances} ${N.t('healthy')} · ${c.unhealthyInstances} ${N.t('unhealthy')}`),
      card(N.t('Configs'), c.configs),
      c.connections === null ? null : card(N.t('Connections'), c.connections),
      c.listeners === null ? null : card(N.t('Listeners'), c.listeners, `${c.longPolls} ${N.t('long polls')}`)));
    const rows = N.samples.slice(1);
    N.fill(charts, h('div.cards', null,
      N.chart(N.t('Requests per second'), rows.map((p) => p.rate ?? null), '/s'),
      N.chart(N.t('Push latency (ms, mean)'), rows.map((p) => p.push ?? null), 'ms'),
      c.connections === null ? null : N.chart(N.t('Connections'), N.samples.map((p) => p.conns), '')));
  };
  const refreshMembers = async () => N.fill(members, N.memberTable(await N.members()));
  await Promise.all([refresh(), refreshMembers()]);
  N.every(2000, () => refresh().catch(N.fail));
  N.every(5000, () => refreshMembers().catch(N.fail));
};
