// Services: the list (live), create, edit, delete; the detail with its
// clusters and health checkers, instances (edit weight and metadata, take
// offline or online) and subscribers.

const NS_API = '/v3/admin/ns';
const svcKey = (q) => ({ serviceName: q.name, groupName: q.group || 'DEFAULT_GROUP', namespaceId: q.ns || N.ns() });

N.serviceForm = async function (title, s, creating) {
  const v = await N.formDialog(title, [
    ['serviceName', N.t('Service name'), N.input('serviceName', s.serviceName, { required: true, readonly: !creating })],
    ['groupName', N.t('Group'), N.input('groupName', s.groupName || 'DEFAULT_GROUP', { required: true, readonly: !creating })],
    ['protectThreshold', N.t('Protect threshold (0 to 1)'), N.input('protectThreshold', String(s.protectThreshold ?? 0), { type: 'number', min: 0, max: 1, step: 0.01 })],
    ['metadata', N.t('Metadata (key=value per line, or JSON)'), h('textarea', { name: 'metadata', rows: 4, text: N.metadataText(s.metadata) })],
  ], creating ? N.t('Create') : N.t('Save'));
  if (!v) return null;
  v.metadata = N.metadataJson(v.metadata);
  return v;
};

N.pages['/services'] = async function (q, main) {
  const ns = N.ns();
  const access = N.access(ns);
  const write = access.write;
  const create = async () => {
    try {
      const v = await N.serviceForm(N.t('Create service'), {}, true);
      if (!v) return;
      await N.api('POST', NS_API + '/service', Object.assign({ namespaceId: ns }, v));
      N.flash(N.t('Service created'));
      N.go('/service', { ns, name: v.serviceName, group: v.groupName });
    } catch (e) { N.fail(e); }
  };
  N.append(main, [N.titleBar(N.t('Services'), write ? N.button(N.t('Create service'), create, 'primary') : null)]);
  if (!access.read) {
    N.append(main, [h('p.note', { role: 'note' }, N.t('You have no access to this namespace.'))]);
    return;
  }
  N.append(main, [N.readOnlyNote(ns)]);
  const f = {
    name: N.input('name', q.name),
    group: N.input('group', q.group),
    hideEmpty: h('input', { type: 'checkbox', name: 'hideEmpty', checked: q.hideEmpty === '1' }),
  };
  const list = N.slot();
  N.append(main, [
    h('form.filters', {
      role: 'search',
      onsubmit: (e) => { e.preventDefault(); N.go('/services', { ns, name: f.name.value, group: f.group.value, hideEmpty: f.hideEmpty.checked ? '1' : '' }); },
    }, N.field(N.t('Service name contains'), f.name), N.field(N.t('Group contains'), f.group),
    h('div.field.inline', null, f.hideEmpty, h('label', { for: (f.hideEmpty.id = 'hide-empty') }, N.t('Hide empty services'))),
    h('div.actions', null, h('button.primary', { type: 'submit' }, N.t('Search')), N.link(N.t('Clear'), N.href('/services', { ns })))),
    list,
  ]);
  const pageNo = Number(q.page || 1), pageSize = 20;
  const remove = async (s) => {
    if (!(await N.confirm(`${N.t('Delete service')} ${s.name} (${s.groupName})?`, N.t('Delete')))) return;
    try {
      await N.api('DELETE', NS_API + '/service', { serviceName: s.name, groupName: s.groupName, namespaceId: ns });
      N.flash(N.t('Deleted'));
      await load();
    } catch (e) { N.fail(e); }
  };
  const load = async () => {
    const page = await N.get(NS_API + '/service/list', {
      namespaceId: ns, pageNo, pageSize, serviceNameParam: q.name || '', groupNameParam: q.group || '',
      ignoreEmptyService: q.hideEmpty === '1',
    });
    if (N.same(list, page)) return;
    N.fill(list, N.table([
      { title: N.t('Service'), cell: (s) => N.link(s.name, N.href('/service', { ns, name: s.name, group: s.groupName })) },
      { title: N.t('Group'), cell: (s) => s.groupName },
      { title: N.t('Clusters'), cell: (s) => String(s.clusterCount) },
      { title: N.t('Instances'), cell: (s) => String(s.ipCount) },
      { title: N.t('Healthy'), cell: (s) => h('span', { class: s.healthyInstanceCount < s.ipCount ? 'warn' : null }, String(s.healthyInstanceCount)) },
      { title: N.t('Threshold'), cell: (s) => `${s.protectThreshold ?? 0}${s.triggerFlag === 'true' ? ' ⚠ ' + N.t('reached') : ''}` },
      {
        title: N.t('Actions'), cell: (s) => h('div.actions', null,
          N.link(N.t('Detail'), N.href('/service', { ns, name: s.name, group: s.groupName })),
          write ? N.button(N.t('Delete'), () => remove(s), 'link danger') : null),
      },
    ], page.pageItems || [], N.t('No services match.')),
    N.pager(page.totalCount, pageNo, pageSize, (p) => N.go('/services', Object.assign({}, q, { ns, page: p }))));
  };
  await load();
  N.every(1000, () => load().catch(N.fail));
};

N.pages['/service'] = async function (q, main) {
  const key = svcKey(q);
  const write = N.canWrite(key.namespaceId);
  const svc = await N.get(NS_API + '/service', key);
  const edit = async () => {
    try {
      const v = await N.serviceForm(`${N.t('Edit service')} ${key.serviceName}`, svc, false);
      if (!v) return;
      await N.api('PUT', NS_API + '/service', Object.assign({}, key, { protectThreshold: v.protectThreshold, metadata: v.metadata }));
      N.flash(N.t('Saved'));
      N.render();
    } catch (e) { N.fail(e); }
  };
  const remove = async () => {
    if (!(await N.confirm(`${N.t('Delete service')} ${key.serviceName}?`, N.t('Delete')))) return;
    try { await N.api('DELETE', NS_API + '/service', key); N.flash(N.t('Deleted')); N.go('/services', { ns: key.namespaceId }); } catch (e) { N.fail(e); }
  };
  const instances = N.slot(), subscribers = N.slot();
  const clusters = Object.values(svc.clusterMap || {});
  N.append(main, [
    N.titleBar(`${N.t('Service')} ${key.serviceName}`,
      write ? N.button(N.t('Edit service'), edit, 'primary') : null,
      write ? N.button(N.t('Delete'), remove, 'danger') : null,
      N.link(N.t('Back to services'), N.href('/services', { ns: key.namespaceId }), { class: 'button' })),
    N.readOnlyNote(key.namespaceId),
    h('dl.props', null,
      h('dt', null, N.t('Group')), h('dd', null, key.groupName),
      h('dt', null, N.t('Namespace')), h('dd', null, key.namespaceId),
      h('dt', null, N.t('Protect threshold')), h('dd', null, String(svc.protectThreshold ?? 0)),
      h('dt', null, N.t('Metadata')), h('dd', null, N.metadataText(svc.metadata) || '-'),
      h('dt', null, N.t('Selector')), h('dd', null, (svc.selector && svc.selector.type) || 'none')),
    h('h2', null, N.t('Clusters')),
    N.table([
      { title: N.t('Cluster'), cell: (c) => c.clusterName || c.name },
      { title: N.t('Health checker'), cell: (c) => (c.healthChecker && c.healthChecker.type) || 'NONE' },
      { title: N.t('Check port'), cell: (c) => String(c.healthyCheckPort ?? c.checkPort ?? '-') },
      { title: N.t('Use instance port'), cell: (c) => N.yesNo(c.useInstancePortForCheck ?? c.useIPPort4Check) },
      { title: N.t('Metadata'), cell: (c) => N.metadataText(c.metadata) || '-' },
    ], clusters, N.t('No clusters yet.')),
    h('h2', null, N.t('Instances')), instances,
    h('h2', null, N.t('Subscribers')), subscribers,
  ]);
  const update = async (i, changes) => {
    try {
      await N.api('PUT', NS_API + '/instance', Object.assign({}, key, {
        ip: i.ip, port: i.port, clusterName: i.clusterName, ephemeral: i.ephemeral,
        weight: i.weight, enabled: i.enabled, metadata: JSON.stringify(i.metadata || {}),
      }, changes));
      N.flash(N.t('Saved'));
      await loadInstances();
    } catch (e) { N.fail(e); }
  };
  const editInstance = async (i) => {
    const v = await N.formDialog(`${N.t('Edit instance')} ${i.ip}:${i.port}`, [
      ['weight', N.t('Weight'), N.input('weight', String(i.weight), { type: 'number', min: 0, max: 10000, step: 0.1 })],
      ['enabled', N.t('Enabled (receives traffic)'), h('input', { type: 'checkbox', name: 'enabled', checked: i.enabled })],
      ['metadata', N.t('Metadata (key=value per line, or JSON)'), h('textarea', { name: 'metadata', rows: 5, text: N.metadataText(i.metadata) })],
    ]);
    if (!v) return;
    try {
      await update(i, { weight: v.weight, enabled: v.enabled, metadata: N.metadataJson(v.metadata) });
    } catch (e) { N.fail(e); }
  };
  const instPage = Number(q.ipage || 1), instSize = 50;
  const loadInstances = async () => {
    const page = await N.get(NS_API + '/instance/list', Object.assign({ pageNo: instPage, pageSize: instSize }, key));
    const list = page.pageItems || [];
    if (N.same(instances, page)) return;
    N.fill(instances, N.table([
      { title: 'IP', cell: (i) => i.ip },
      { title: N.t('Port'), cell: (i) => String(i.port) },
      { title: N.t('Cluster'), cell: (i) => i.clusterName },
      { title: N.t('Ephemeral'), cell: (i) => (i.ephemeral ? N.t('yes') : N.t('no')) },
      { title: N.t('Weight'), cell: (i) => String(i.weight) },
      { title: N.t('Healthy'), cell: (i) => N.yesNo(i.healthy) },
      { title: N.t('Enabled'), cell: (i) => N.yesNo(i.enabled) },
      { title: N.t('Metadata'), cell: (i) => h('span.meta', null, N.metadataText(i.metadata) || '-') },
      {
        title: N.t('Actions'), cell: (i) => (write ? h('div.actions', null,
          N.button(N.t('Edit'), () => editInstance(i), 'link'),
          i.enabled
            ? N.button(N.t('Take offline'), () => update(i, { enabled: false }), 'link danger', { 'aria-label': `${N.t('Take offline')} ${i.ip}:${i.port}` })
            : N.button(N.t('Bring online'), () => update(i, { enabled: true }), 'link', { 'aria-label': `${N.t('Bring online')} ${i.ip}:${i.port}` })) : '-'),
      },
    ], list, N.t('No instances.')),
    page.totalCount > instSize ? N.pager(page.totalCount, instPage, instSize, (p) => N.go('/service', Object.assign({}, q, { ipage: p }))) : null);
  };
  const subPage = Number(q.spage || 1), subSize = 50;
  const loadSubscribers = async () => {
    const page = await N.get(NS_API + '/service/subscribers', Object.assign({ pageNo: subPage, pageSize: subSize }, key));
    if (N.same(subscribers, page)) return;
    N.fill(subscribers, N.table([
      { title: N.t('Address'), cell: (s) => s.address || `${s.ip}:${s.port}` },
      { title: N.t('Agent'), cell: (s) => s.agent || '-' },
      { title: N.t('Application'), cell: (s) => s.appName || '-' },
    ], page.pageItems || [], N.t('Nobody subscribes to this service on this node.')),
    page.totalCount > subSize ? N.pager(page.totalCount, subPage, subSize, (p) => N.go('/service', Object.assign({}, q, { spage: p }))) : null);
  };
  await Promise.all([loadInstances(), loadSubscribers()]);
  N.every(1000, () => loadInstances().catch(N.fail));
  N.every(3000, () => loadSubscribers().catch(N.fail));
};
