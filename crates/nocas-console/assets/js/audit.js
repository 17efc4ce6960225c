// Audit: who changed what, when and from where — the server's trail of
// durable changes (administrators), newest first, with filters.

N.pages['/audit'] = async function (q, main) {
  const kinds = ['', 'config', 'namespace', 'service', 'instance', 'user', 'role', 'permission', 'membership', 'security'];
  const kind = N.select('kind', kinds.map((k) => [k, k ? N.t(k) : N.t('All kinds')]), q.kind || '');
  const user = N.input('user', q.user, { placeholder: 'nacos' });
  const ip = N.input('ip', q.ip, { placeholder: '10.0.0.1' });
  const target = N.input('target', q.target, { placeholder: 'public/DEFAULT_GROUP/app.yaml' });
  const list = N.slot();
  const search = (e) => {
    e.preventDefault();
    N.go('/audit', { ns: N.ns(), kind: kind.value, user: user.value.trim(), ip: ip.value.trim(), target: target.value.trim() });
  };
  N.append(main, [
    N.titleBar(N.t('Audit trail')),
    h('p', null, N.t('Every durable change, with who made it (the user, or the client address when login is off), when and from where. Every node holds the same trail.')),
    h('form.filters', { role: 'search', onsubmit: search },
      N.field(N.t('Kind'), kind), N.field(N.t('User'), user), N.field(N.t('Client address'), ip),
      N.field(N.t('Target contains'), target),
      h('div.actions', null, h('button.primary', { type: 'submit' }, N.t('Search')))),
    list,
  ]);
  const pageNo = Number(q.page || 1), pageSize = 50;
  const load = async () => {
    const page = await N.get('/v3/admin/core/audit', {
      pageNo, pageSize, kind: q.kind || '', user: q.user || '', ip: q.ip || '', target: q.target || '',
    });
    if (N.same(list, [page.totalCount, page.pageItems])) return;
    N.fill(list, N.table([
      { title: N.t('Time'), cell: (r) => N.fmtTime(r.time) },
      { title: N.t('User'), cell: (r) => h('span.nowrap', null, r.user || '-') },
      { title: N.t('Client address'), cell: (r) => h('span.nowrap', null, `${r.ip || '-'} (${r.via})${r.forwardedFor ? ' ← ' + r.forwardedFor : ''}`) },
      { title: N.t('Kind'), cell: (r) => h('span.nowrap', null, N.t(r.kind)) },
      { title: N.t('Operation'), cell: (r) => h('span.nowrap', null, r.op) },
      { title: N.t('Target'), cell: (r) => h('span.mono', null, r.target) },
      { title: N.t('Detail'), cell: (r) => r.detail || '-' },
    ], page.pageItems || [], N.t('No changes recorded.')),
    N.pager(page.totalCount, pageNo, pageSize, (p) => N.go('/audit', Object.assign({}, q, { page: p }))));
  };
  await load();
  N.every(5000, () => load().catch(N.fail));
};
