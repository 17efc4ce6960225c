// Configs: the list (filters, content search, bulk delete and clone),
// create and edit (highlighting, per-type checks, beta), detail, beta
// (view, stop, promote), history (view, diff against the current
// version, roll back) and listeners.

const CS = '/v3/admin/cs';
const cfgKey = (q) => ({ dataId: q.dataId, groupName: q.group, namespaceId: q.ns || N.ns() });
const cfgQ = (c, extra) => Object.assign({ ns: c.namespaceId || N.ns(), dataId: c.dataId, group: c.groupName || c.group }, extra || {});

N.pages['/configs'] = async function (q, main) {
  const ns = N.ns();
  const access = N.access(ns);
  const write = access.write;
  N.append(main, [N.titleBar(N.t('Configs'),
    write ? N.link(N.t('Create config'), N.href('/config/edit', { ns }), { class: 'button primary' }) : null,
    access.read ? N.button(N.t('Export all matching'), () => N.exportConfigs(ns, N.listFilter(q), [])) : null,
    write ? N.button(N.t('Import ZIP'), () => N.importConfigs(ns, () => N.render())) : null)]);
  if (!access.read) {
    N.append(main, [h('p.note', { role: 'note' }, N.t('You have no access to this namespace.'))]);
    return;
  }
  N.append(main, [N.readOnlyNote(ns)]);
  const f = {
    dataId: N.input('dataId', q.dataId),
    group: N.input('group', q.group),
    appName: N.input('appName', q.appName),
    tags: N.input('tags', q.tags),
    search: N.select('search', [['blur', N.t('fuzzy (* wildcards)')], ['accurate', N.t('exact')]], q.search || 'blur'),
    content: N.input('content', q.content),
  };
  const form = h('form.filters', {
    role: 'search',
    onsubmit: (e) => {
      e.preventDefault();
      N.go('/configs', { ns, dataId: f.dataId.value, group: f.group.value, appName: f.appName.value, tags: f.tags.value, search: f.search.value, content: f.content.value });
    },
  },
  N.field(N.t('Data ID'), f.dataId), N.field(N.t('Group'), f.group), N.field(N.t('Application'), f.appName),
  N.field(N.t('Tags'), f.tags), N.field(N.t('Match'), f.search), N.field(N.t('Content contains'), f.content),
  h('div.actions', null, h('button.primary', { type: 'submit' }, N.t('Search')),
    N.link(N.t('Clear'), N.href('/configs', { ns }))));
  const selected = new Set();
  const bulk = h('div.actions.bulk');
  const list = N.slot();
  N.append(main, [form, bulk, list]);
  const pageNo = Number(q.page || 1), pageSize = 20;
  let rows = [];
  const drawBulk = () => N.fill(bulk, write ? [
    h('span', null, `${selected.size} ${N.t('selected')}`),
    N.button(N.t('Delete selected'), removeSelected, 'danger', { disabled: !selected.size }),
    N.button(N.t('Clone selected to…'), cloneSelected, null, { disabled: !selected.size }),
    N.button(N.t('Export selected'), () => N.exportConfigs(ns, {}, [...selected]), null, { disabled: !selected.size }),
  ] : []);
  const removeSelected = async () => {
    const picked = rows.filter((r) => selected.has(r.id));
    if (!(await N.confirm(`${N.t('Delete')} ${picked.length} ${N.t('configs')}: ${picked.map((r) => r.dataId).join(', ')}?`, N.t('Delete')))) return;
    try {
      await N.api('DELETE', CS + '/config/batch', { ids: picked.map((r) => r.id).join(','), namespaceId: ns });
      selected.clear();
      N.flash(N.t('Deleted'));
      await load();
    } catch (e) { N.fail(e); }
  };
  const cloneSelected = async () => {
    const picked = rows.filter((r) => selected.has(r.id));
    await N.cloneConfigs(picked);
  };
  const load = async () => {
    const f = N.listFilter(q);
    const params = {
      namespaceId: ns, pageNo, pageSize, dataId: f.dataId, groupName: f.group,
      appName: q.appName || '', configTags: q.tags || '', search: q.search || 'blur',
    };
    // Content search is "contains" (Nacos matches the whole content, with
    // * as the wildcard).
    if (q.content) params.configDetail = q.content.includes('*') ? q.content : `*${q.content}*`;
    const page = await N.get(CS + '/config/list', params);
    rows = page.pageItems || [];
    for (const id of [...selected]) if (!rows.some((r) => r.id === id)) selected.delete(id);
    drawBulk();
    if (N.same(list, page)) return;
    N.fill(list, N.table([
      write ? {
        title: N.t('Select'), cls: 'narrow', cell: (r) => h('input', {
          type: 'checkbox', checked: selected.has(r.id), 'aria-label': `${N.t('Select')} ${r.dataId}`,
          onchange: (e) => { if (e.target.checked) selected.add(r.id); else selected.delete(r.id); drawBulk(); },
        }),
      } : null,
      { title: N.t('Data ID'), cell: (r) => N.link(r.dataId, N.href('/config', cfgQ(r))) },
      { title: N.t('Group'), cell: (r) => r.groupName },
      { title: N.t('Application'), cell: (r) => r.appName || '' },
      { title: N.t('Type'), cell: (r) => r.type || 'text' },
      { title: N.t('Modified'), cell: (r) => N.fmtTime(r.modifyTime) },
      {
        title: N.t('Actions'), cell: (r) => h('div.actions', null,
          write ? N.link(N.t('Edit'), N.href('/config/edit', cfgQ(r))) : null,
          N.link(N.t('History'), N.href('/config/history', cfgQ(r))),
          N.link(N.t('Listeners'), N.href('/config/listeners', cfgQ(r)))),
      },
    ].filter(Boolean), rows, N.t('No configs match.')),
    N.pager(page.totalCount, pageNo, pageSize, (p) => N.go('/configs', Object.assign({}, q, { ns, page: p }))));
  };
  await load();
  N.every(2000, () => load().catch(N.fail));
};

// The list's data ID and group filters as the server takes them: fuzzy
// search means "contains" unless the user wrote wildcards.
N.listFilter = function (q) {
  const blur = (q.search || 'blur') === 'blur';
  const wrap = (v) => (blur && v && !v.includes('*') ? `*${v}*` : v || '');
  return { dataId: wrap(q.dataId), group: wrap(q.group), appName: q.appName || '' };
};

// Copies configs (content and descriptive fields) into another namespace,
// in one call; `picked` are list rows or details ({id, dataId, groupName}).
N.cloneConfigs = async function (picked) {
  const targets = N.state.namespaces.filter((n) => n.namespace !== N.ns() && N.canWrite(n.namespace));
  if (!targets.length) return N.flash(N.t('There is no other namespace you may write to.'), 'error');
  const v = await N.formDialog(N.t('Clone to namespace'), [
    ['target', N.t('Target namespace'), N.select('target', targets.map((n) => [n.namespace, `${n.namespaceShowName} (${n.namespace})`]))],
    ['policy', N.t('When a config exists there'), N.policySelect()],
  ], N.t('Clone'));
  if (!v) return;
  try {
    const body = JSON.stringify(picked.map((r) => ({ cfgId: Number(r.id), dataId: r.dataId, group: r.groupName })));
    const report = await N.send('POST', CS.replace('/admin/', '/console/') + '/config/clone',
      N.query({ targetNamespaceId: v.target, policy: v.policy }), body, { 'Content-Type': 'application/json' });
    N.showReport(N.t('Clone'), report, v.target);
  } catch (e) { N.fail(e); }
};
N.policySelect = () => N.select('policy', [['ABORT', N.t('stop (abort)')], ['SKIP', N.t('skip it')], ['OVERWRITE', N.t('overwrite it')]], 'ABORT');
// The result of an import or clone, as a message.
N.showReport = function (what, r, ns) {
  if (r && typeof r === 'object' && 'succCount' in r) {
    const parts = [`${what}: ${r.succCount} ${N.t('written')}`, `${r.skipCount || 0} ${N.t('skipped')}`];
    if (r.failData && r.failData.length) parts.push(`${N.t('stopped at')} ${r.failData.map((f) => f.group + '/' + f.dataId).join(', ')}`);
    if (r.unrecognizedCount) parts.push(`${r.unrecognizedCount} ${N.t('not recognized')}: ${r.unrecognizedData.map((u) => u.itemName).join(', ')}`);
    N.flash(parts.join(' · ') + (ns ? ` → ${ns}` : ''), r.failData && r.failData.length ? 'error' : 'ok');
  }
};
// Downloads the configs `q` selects as a Nacos ZIP (.metadata.yml).
N.exportConfigs = async function (ns, q, ids) {
  try {
    const resp = await N.send('GET', CS.replace('/admin/', '/console/') + '/config/export2', N.query({
      namespaceId: ns, dataId: q.dataId || '', groupName: q.group || '', appName: q.appName || '', ids: (ids || []).join(','),
    }), null, null, true);
    const blob = await resp.blob();
    const name = (/filename=([^;]+)/.exec(resp.headers.get('content-disposition') || '') || [])[1] || 'nacos_config_export.zip';
    const a = h('a', { href: URL.createObjectURL(blob), download: name.trim() });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    N.flash(`${N.t('Exported')} ${name}`);
  } catch (e) { N.fail(e); }
};
N.importConfigs = async function (ns, done) {
  const file = h('input', { type: 'file', name: 'file', accept: '.zip,application/zip', required: true });
  const v = await N.formDialog(`${N.t('Import a Nacos ZIP into')} ${ns}`, [
    ['file', N.t('ZIP file (a Nacos export with .metadata.yml)'), file],
    ['policy', N.t('When a config exists'), N.policySelect()],
  ], N.t('Import'));
  if (!v || !file.files.length) return;
  try {
    const form = new FormData();
    form.append('file', file.files[0]);
    const report = await N.send('POST', CS.replace('/admin/', '/console/') + '/config/import', N.query({ namespaceId: ns, policy: v.policy }), form);
    N.showReport(N.t('Import'), report, ns);
    if (done) await done();
  } catch (e) { N.fail(e); }
};

N.pages['/config'] = async function (q, main) {
  const key = cfgKey(q);
  const write = N.canWrite(key.namespaceId);
  // One call: the config, its beta (or null) and its last change.
  const { config: c, beta, lastChange: last } = await N.get('/v3/console/cs/config', key);
  const remove = async () => {
    if (!(await N.confirm(`${N.t('Delete config')} ${c.dataId} (${c.groupName})?`, N.t('Delete')))) return;
    try {
      await N.api('DELETE', CS + '/config', key);
      N.flash(N.t('Deleted'));
      N.go('/configs', { ns: key.namespaceId });
    } catch (e) { N.fail(e); }
  };
  N.append(main, [
    N.titleBar(c.dataId,
      write ? N.link(N.t('Edit'), N.href('/config/edit', q), { class: 'button primary' }) : null,
      N.link(N.t('History'), N.href('/config/history', q), { class: 'button' }),
      N.link(N.t('Listeners'), N.href('/config/listeners', q), { class: 'button' }),
      write ? N.button(N.t('Clone to…'), () => N.cloneConfigs([c])) : null,
      write ? N.button(N.t('Delete'), remove, 'danger') : null),
    N.readOnlyNote(key.namespaceId),
    h('dl.props', null,
      h('dt', null, N.t('Group')), h('dd', null, c.groupName),
      h('dt', null, N.t('Namespace')), h('dd', null, c.namespaceId),
      h('dt', null, 'MD5'), h('dd.mono', null, c.md5),
      h('dt', null, N.t('Type')), h('dd', null, c.type || 'text'),
      h('dt', null, N.t('Description')), h('dd', null, c.desc || '-'),
      h('dt', null, N.t('Application')), h('dd', null, c.appName || '-'),
      h('dt', null, N.t('Tags')), h('dd', null, c.configTags || '-'),
      h('dt', null, N.t('Created')), h('dd', null, N.fmtTime(c.createTime)),
      h('dt', null, N.t('Last change')), h('dd', null, last
        ? `${N.fmtTime(last.modifyTime || last.createTime)} · ${last.srcUser || N.t('(no user)')} · ${last.srcIp || ''}`
        : N.fmtTime(c.modifyTime))),
    h('h2', null, N.t('Content')),
    N.codeView(c.content || '', c.type),
  ]);
  N.append(main, [h('h2', null, N.t('Beta release'))]);
  if (!beta) {
    N.append(main, [h('p', null, N.t('No beta release.'), write ? [' ', N.link(N.t('Start one from the editor'), N.href('/config/edit', Object.assign({}, q, { beta: '1' })))] : null)]);
    return;
  }
  const stop = async () => {
    if (!(await N.confirm(N.t('Stop the beta? Clients in it return to the released content.'), N.t('Stop beta')))) return;
    try { await N.api('DELETE', CS + '/config/beta', key); N.flash(N.t('Beta stopped')); N.render(); } catch (e) { N.fail(e); }
  };
  const promote = async () => {
    if (!(await N.confirm(N.t('Publish the beta content to everyone?'), N.t('Promote')))) return;
    try {
      await N.api('POST', '/v2/cs/config/beta/promote', { dataId: key.dataId, group: key.groupName, namespaceId: key.namespaceId });
      N.flash(N.t('Beta promoted'));
      N.render();
    } catch (e) { N.fail(e); }
  };
  N.append(main, [
    h('dl.props', null,
      h('dt', null, N.t('Beta IPs')), h('dd', null, beta.betaIps || '-'),
      h('dt', null, 'MD5'), h('dd.mono', null, beta.md5 || '-')),
    h('div.actions', null, write ? N.button(N.t('Stop beta'), stop, 'danger') : null,
      write ? N.button(N.t('Promote to everyone'), promote, 'primary') : null),
    N.codeView(beta.content || '', c.type),
  ]);
};

N.pages['/config/edit'] = async function (q, main) {
  const editing = !!q.dataId;
  const ns = q.ns || N.ns();
  if (!N.canWrite(ns)) {
    N.append(main, [h('h1', null, N.t('Edit config')), h('p.note', { role: 'note' }, N.t('Read-only: you may view this namespace but not change it.'))]);
    return;
  }
  let c = { dataId: '', groupName: 'DEFAULT_GROUP', type: 'text', content: '', desc: '', appName: '', configTags: '', md5: '' };
  if (editing) c = await N.get(CS + '/config', cfgKey(q));
  const f = {
    dataId: N.input('dataId', c.dataId, { required: true, readonly: editing, maxlength: 256 }),
    group: N.input('group', c.groupName, { required: true, readonly: editing, maxlength: 128 }),
    type: N.select('type', N.TYPES, c.type || 'text'),
    desc: N.input('desc', c.desc),
    appName: N.input('appName', c.appName),
    tags: N.input('configTags', c.configTags),
    beta: h('input', { type: 'checkbox', name: 'beta', checked: q.beta === '1' }),
    betaIps: N.input('betaIps', '', { placeholder: '10.0.0.1,10.0.0.2' }),
  };
  const ed = N.editor({ value: c.content, type: f.type.value });
  f.type.addEventListener('change', () => ed.type(f.type.value).catch(N.fail));
  const betaBox = h('div.beta-ips', { hidden: q.beta !== '1' }, N.field(N.t('Beta IPs (comma separated)'), f.betaIps));
  f.beta.addEventListener('change', () => { betaBox.hidden = !f.beta.checked; });
  const publish = async (e) => {
    e.preventDefault();
    try {
      const problem = await ed.check();
      if (problem && !(await N.confirm(`${N.t('The content is not valid')} ${f.type.value} (${N.t('line')} ${problem.line}: ${problem.message}). ${N.t('Publish anyway?')}`, N.t('Publish anyway')))) return;
      const params = {
        dataId: f.dataId.value.trim(), groupName: f.group.value.trim(), namespaceId: ns, content: ed.value(),
        type: f.type.value, desc: f.desc.value, appName: f.appName.value, configTags: f.tags.value,
      };
      const headers = {};
      if (editing && c.md5 && !f.beta.checked) headers.casMd5 = c.md5;
      if (f.beta.checked) {
        if (!f.betaIps.value.trim()) return N.flash(N.t('Give the IPs of the beta.'), 'error');
        headers.betaIps = f.betaIps.value.trim();
      }
      await N.api('POST', CS + '/config', params, headers);
      N.flash(f.beta.checked ? N.t('Beta published') : N.t('Published'));
      N.go('/config', { ns, dataId: params.dataId, group: params.groupName });
    } catch (err) {
      N.fail(err.status === 400 && /md5|cas/i.test(err.message)
        ? new Error(N.t('Someone changed this config after you opened it; reload to see their version.') + ' ' + err.message)
        : err);
    }
  };
  N.append(main, [
    h('h1', null, editing ? `${N.t('Edit config')} ${c.dataId}` : N.t('Create config')),
    h('form.stack.editor-form', { onsubmit: publish },
      h('div.grid2', null, N.field(N.t('Data ID'), f.dataId), N.field(N.t('Group'), f.group),
        N.field(N.t('Type'), f.type), N.field(N.t('Description'), f.desc),
        N.field(N.t('Application'), f.appName), N.field(N.t('Tags (comma separated)'), f.tags)),
      ed.el,
      h('div.field.inline', null, f.beta, h('label', { for: (f.beta.id = 'beta-toggle') }, N.t('Beta release: publish only to some IPs'))),
      betaBox,
      h('div.actions', null,
        h('button.primary', { type: 'submit' }, N.t('Publish')),
        N.link(N.t('Cancel'), editing ? N.href('/config', q) : N.href('/configs', { ns }), { class: 'button' }))),
  ]);
  ed.check().catch(N.fail);
};

N.pages['/config/history'] = async function (q, main) {
  const key = cfgKey(q);
  const write = N.canWrite(key.namespaceId);
  const pageNo = Number(q.page || 1), pageSize = 20;
  const page = await N.get(CS + '/history/list', Object.assign({ pageNo, pageSize }, key));
  const rollback = async (item) => {
    const v = await N.get(CS + '/history', Object.assign({ nid: item.id }, key));
    if (!(await N.confirm(`${N.t('Roll back')} ${key.dataId} ${N.t('to version')} ${item.id} (${N.fmtTime(item.modifyTime || item.createTime)})?`, N.t('Roll back')))) return;
    try {
      let type = 'text';
      try { type = JSON.parse(v.extInfo || '{}').type || 'text'; } catch (_) { /* keep text */ }
      await N.api('POST', CS + '/config', { dataId: key.dataId, groupName: key.groupName, namespaceId: key.namespaceId, content: v.content, type, appName: v.appName || '' });
      N.flash(N.t('Rolled back'));
      N.go('/config', q);
    } catch (e) { N.fail(e); }
  };
  const op = (t) => ({ I: N.t('created'), U: N.t('updated'), D: N.t('deleted') }[(t || '').trim()] || t);
  N.append(main, [
    N.titleBar(`${N.t('History of')} ${key.dataId}`, N.link(N.t('Back to config'), N.href('/config', q), { class: 'button' })),
    h('p', null, `${N.t('Group')} ${key.groupName} · ${N.t('Namespace')} ${key.namespaceId}. ${N.t('Each entry holds the content as it was before that change.')}`),
    N.table([
      { title: N.t('Version'), cell: (i) => i.id },
      { title: N.t('Operation'), cell: (i) => op(i.opType) },
      { title: N.t('Time'), cell: (i) => N.fmtTime(i.modifyTime || i.createTime) },
      { title: N.t('User'), cell: (i) => i.srcUser || '-' },
      { title: N.t('Source IP'), cell: (i) => i.srcIp || '-' },
      { title: N.t('Kind'), cell: (i) => i.publishType || 'formal' },
      {
        title: N.t('Actions'), cell: (i) => h('div.actions', null,
          N.link(N.t('View'), N.href('/config/version', Object.assign({}, q, { nid: i.id }))),
          N.link(N.t('Compare with current'), N.href('/config/diff', Object.assign({}, q, { nid: i.id }))),
          write ? N.button(N.t('Roll back'), () => rollback(i), 'link danger') : null),
      },
    ], page.pageItems || [], N.t('No history yet.')),
    N.pager(page.totalCount, pageNo, pageSize, (p) => N.go('/config/history', Object.assign({}, q, { page: p }))),
  ]);
};

N.pages['/config/version'] = async function (q, main) {
  const key = cfgKey(q);
  const v = await N.get(CS + '/history', Object.assign({ nid: q.nid }, key));
  let type = 'text';
  try { type = JSON.parse(v.extInfo || '{}').type || 'text'; } catch (_) { /* keep text */ }
  N.append(main, [
    N.titleBar(`${key.dataId} · ${N.t('version')} ${v.id}`,
      N.link(N.t('Compare with current'), N.href('/config/diff', q), { class: 'button' }),
      N.link(N.t('Back to history'), N.href('/config/history', Object.assign({}, q, { nid: undefined })), { class: 'button' })),
    h('dl.props', null,
      h('dt', null, N.t('Time')), h('dd', null, N.fmtTime(v.modifyTime || v.createTime)),
      h('dt', null, N.t('User')), h('dd', null, v.srcUser || '-'),
      h('dt', null, N.t('Source IP')), h('dd', null, v.srcIp || '-'),
      h('dt', null, 'MD5'), h('dd.mono', null, v.md5 || '-')),
    N.codeView(v.content || '', type),
  ]);
};

N.pages['/config/diff'] = async function (q, main) {
  const key = cfgKey(q);
  const [v, cur] = await Promise.all([
    N.get(CS + '/history', Object.assign({ nid: q.nid }, key)),
    N.get(CS + '/config', key).catch((e) => { if (e.status === 404) return { content: '' }; throw e; }),
  ]);
  const rows = await N.api('POST', '/v3/console/diff', { left: v.content || '', right: cur.content || '' });
  const changed = rows.filter((r) => r.kind !== 'same').length;
  const side = (s) => (s ? [h('td.no', null, String(s.no)), h('td.text', null, h('code', null, s.text))] : [h('td.no'), h('td.text.none')]);
  N.append(main, [
    N.titleBar(`${key.dataId}: ${N.t('version')} ${v.id} ↔ ${N.t('current')}`,
      N.link(N.t('Back to history'), N.href('/config/history', Object.assign({}, q, { nid: undefined })), { class: 'button' })),
    h('p', null, changed ? `${changed} ${N.t('lines differ')}` : N.t('The contents are the same.')),
    h('div.scroll', null, h('table.diff', null,
      h('thead', null, h('tr', null, h('th', { colspan: 2, scope: 'col' }, `${N.t('Version')} ${v.id} (${N.fmtTime(v.modifyTime || v.createTime)})`), h('th', { colspan: 2, scope: 'col' }, N.t('Current')))),
      h('tbody', null, rows.map((r) => h('tr.' + r.kind, null, side(r.left), side(r.right)))))),
  ]);
};

N.pages['/config/listeners'] = async function (q, main) {
  const key = cfgKey(q);
  const list = N.slot();
  N.append(main, [
    N.titleBar(`${N.t('Listeners of')} ${key.dataId}`, N.link(N.t('Back to config'), N.href('/config', q), { class: 'button' })),
    h('p', null, N.t('Clients listening to this config on this node, with the MD5 each last reported.')),
    list,
  ]);
  const load = async () => {
    const [l, c] = await Promise.all([
      N.get(CS + '/config/listener', key),
      N.get(CS + '/config', key).catch(() => ({ md5: '' })),
    ]);
    const rows = Object.entries(l.listenersStatus || {}).map(([ip, md5]) => ({ ip, md5 }));
    if (N.same(list, [rows, c.md5])) return;
    N.fill(list, N.table([
      { title: 'IP', cell: (r) => (N.isAdmin() ? N.link(r.ip, N.href('/listeners', { ns: key.namespaceId, ip: r.ip })) : r.ip) },
      { title: 'MD5', cell: (r) => h('span.mono', null, r.md5 || '-') },
      { title: N.t('In sync'), cell: (r) => N.yesNo(r.md5 === c.md5) },
    ], rows, N.t('Nobody listens to this config.')));
  };
  await load();
  N.every(2000, () => load().catch(N.fail));
};

N.pages['/listeners'] = async function (q, main) {
  const ip = N.input('ip', q.ip, { required: true, placeholder: '10.0.0.1' });
  const list = N.slot();
  N.append(main, [
    N.titleBar(N.t('What an IP listens to')),
    h('form.filters', { role: 'search', onsubmit: (e) => { e.preventDefault(); N.go('/listeners', { ns: N.ns(), ip: ip.value.trim() }); } },
      N.field('IP', ip), h('div.actions', null, h('button.primary', { type: 'submit' }, N.t('Search')))),
    list,
  ]);
  if (!q.ip) return;
  const l = await N.get(CS + '/listener', { ip: q.ip });
  const rows = Object.entries(l.listenersStatus || {}).map(([k, md5]) => {
    const [dataId, group, tenant] = k.split('+');
    return { dataId, group, ns: tenant || 'public', md5 };
  });
  N.fill(list, N.table([
    { title: N.t('Data ID'), cell: (r) => N.link(r.dataId, N.href('/config', { ns: r.ns, dataId: r.dataId, group: r.group })) },
    { title: N.t('Group'), cell: (r) => r.group },
    { title: N.t('Namespace'), cell: (r) => r.ns },
    { title: 'MD5', cell: (r) => h('span.mono', null, r.md5 || '-') },
  ], rows, N.t('This IP listens to nothing here.')));
};
