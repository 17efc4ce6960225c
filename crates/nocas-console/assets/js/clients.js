// Clients: this node's gRPC connections — address, SDK and version, since
// when, and what each registered, subscribed to and listens to.

N.pages['/clients'] = async function (q, main) {
  const ip = N.input('ip', q.ip, { placeholder: '10.0.0.1' });
  const list = N.slot();
  N.append(main, [
    N.titleBar(N.t('Clients')),
    h('p', null, N.t('gRPC connections held by this node.')),
    h('form.filters', { role: 'search', onsubmit: (e) => { e.preventDefault(); N.go('/clients', { ns: N.ns(), ip: ip.value.trim() }); } },
      N.field(N.t('Address contains'), ip), h('div.actions', null, h('button.primary', { type: 'submit' }, N.t('Search')))),
    list,
  ]);
  const pageNo = Number(q.page || 1), pageSize = 20;
  const load = async () => {
    const page = await N.get('/v3/console/clients', { pageNo, pageSize, ip: q.ip || '' });
    // Activity times change all the time and are not shown.
    const shown = (page.pageItems || []).map(({ lastActiveTime, ...rest }) => rest);
    if (N.same(list, [page.totalCount, shown])) return;
    N.fill(list, N.table([
      { title: N.t('Address'), cell: (c) => N.link(c.address, N.href('/client', { ns: N.ns(), id: c.clientId })) },
      { title: N.t('SDK'), cell: (c) => c.sdk || '-' },
      { title: N.t('Application'), cell: (c) => c.appName || '-' },
      { title: N.t('Namespace'), cell: (c) => c.namespace || 'public' },
      { title: N.t('Since'), cell: (c) => N.fmtTime(c.createTime) },
      { title: N.t('Registered'), cell: (c) => String(c.registered) },
      { title: N.t('Subscribed'), cell: (c) => String(c.subscribed) },
      { title: N.t('Listening'), cell: (c) => String(c.listening) },
    ], page.pageItems || [], N.t('No gRPC clients are connected to this node.')),
    N.pager(page.totalCount, pageNo, pageSize, (p) => N.go('/clients', Object.assign({}, q, { page: p }))));
  };
  await load();
  N.every(2000, () => load().catch(N.fail));
};

N.pages['/client'] = async function (q, main) {
  const c = await N.get('/v3/console/client', { clientId: q.id });
  N.append(main, [
    N.titleBar(`${N.t('Client')} ${c.address}`, N.link(N.t('Back to clients'), N.href('/clients', { ns: N.ns() }), { class: 'button' })),
    h('dl.props', null,
      h('dt', null, N.t('Connection ID')), h('dd.mono', null, c.clientId),
      h('dt', null, N.t('SDK')), h('dd', null, c.sdk || '-'),
      h('dt', null, N.t('Namespace')), h('dd', null, c.namespace || 'public'),
      h('dt', null, N.t('Since')), h('dd', null, N.fmtTime(c.createTime)),
      h('dt', null, N.t('Last active')), h('dd', null, N.fmtTime(c.lastActiveTime)),
      h('dt', null, N.t('Labels')), h('dd', null, N.metadataText(c.labels) || '-')),
    h('h2', null, N.t('Registered instances')),
    N.table([
      { title: N.t('Service'), cell: (r) => N.link(r.serviceName, N.href('/service', { ns: r.namespace, name: r.serviceName, group: r.groupName })) },
      { title: N.t('Group'), cell: (r) => r.groupName },
      { title: N.t('Namespace'), cell: (r) => r.namespace },
      { title: N.t('Instance'), cell: (r) => `${r.ip}:${r.port} (${r.clusterName})` },
    ], c.registered, N.t('None.')),
    h('h2', null, N.t('Subscriptions')),
    N.table([
      { title: N.t('Service'), cell: (r) => N.link(r.serviceName, N.href('/service', { ns: r.namespace, name: r.serviceName, group: r.groupName })) },
      { title: N.t('Group'), cell: (r) => r.groupName },
      { title: N.t('Namespace'), cell: (r) => r.namespace },
      { title: N.t('Clusters'), cell: (r) => r.clusters || N.t('all') },
    ], c.subscribed, N.t('None.')),
    h('h2', null, N.t('Listened configs')),
    N.table([
      { title: N.t('Data ID'), cell: (r) => N.link(r.dataId, N.href('/config', { ns: r.namespace, dataId: r.dataId, group: r.groupName })) },
      { title: N.t('Group'), cell: (r) => r.groupName },
      { title: N.t('Namespace'), cell: (r) => r.namespace },
      { title: 'MD5', cell: (r) => h('span.mono', null, r.md5 || '-') },
    ], c.listening, N.t('None.')),
  ]);
};
