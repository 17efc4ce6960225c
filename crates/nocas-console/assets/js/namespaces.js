// Namespaces: list with counts; create, edit, delete (administrators).

N.pages['/namespaces'] = async function (q, main) {
  const list = N.slot();
  const admin = N.isAdmin();
  const create = async () => {
    const v = await N.formDialog(N.t('Create namespace'), [
      ['namespaceId', N.t('ID (empty: generated)'), N.input('namespaceId', '', { pattern: '[A-Za-z0-9_.:\\-]*', maxlength: 128 })],
      ['namespaceName', N.t('Name'), N.input('namespaceName', '', { required: true, maxlength: 128 })],
      ['namespaceDesc', N.t('Description'), N.input('namespaceDesc', '')],
    ], N.t('Create'));
    if (!v) return;
    try {
      await N.api('POST', '/v3/admin/core/namespace', v);
      N.flash(N.t('Namespace created'));
      await N.loadNamespaces();
      N.render();
    } catch (e) { N.fail(e); }
  };
  N.append(main, [N.titleBar(N.t('Namespaces'), admin ? N.button(N.t('Create namespace'), create, 'primary') : null), list]);
  const edit = async (n) => {
    const v = await N.formDialog(`${N.t('Edit namespace')} ${n.namespace}`, [
      ['namespaceName', N.t('Name'), N.input('namespaceName', n.namespaceShowName, { required: true })],
      ['namespaceDesc', N.t('Description'), N.input('namespaceDesc', n.namespaceDesc)],
    ]);
    if (!v) return;
    try {
      await N.api('PUT', '/v3/admin/core/namespace', Object.assign({ namespaceId: n.namespace }, v));
      N.flash(N.t('Saved'));
      await N.loadNamespaces();
      N.render();
    } catch (e) { N.fail(e); }
  };
  const remove = async (n) => {
    if (!(await N.confirm(`${N.t('Delete namespace')} ${n.namespace}?`, N.t('Delete')))) return;
    try {
      await N.api('DELETE', '/v3/admin/core/namespace', { namespaceId: n.namespace });
      N.flash(N.t('Deleted'));
      if (N.ns() === n.namespace) localStorage.setItem('nocas.ns', 'public');
      await N.loadNamespaces();
      N.go('/namespaces', { ns: 'public' });
    } catch (e) { N.fail(e); }
  };
  const draw = () => N.fill(list, N.table([
    { title: N.t('ID'), cell: (n) => n.namespace },
    { title: N.t('Name'), cell: (n) => n.namespaceShowName },
    { title: N.t('Description'), cell: (n) => n.namespaceDesc || '' },
    { title: N.t('Configs'), cell: (n) => String(n.configCount ?? 0) },
    { title: N.t('Services'), cell: (n) => String(n.serviceCount ?? '-') },
    { title: N.t('Access'), cell: (n) => N.badge(N.canWrite(n.namespace) ? N.t('read-write') : N.access(n.namespace).read ? N.t('read-only') : N.t('none'), N.canWrite(n.namespace) ? 'good' : 'plain') },
    {
      title: N.t('Actions'), cell: (n) => h('div.actions', null,
        N.link(N.t('Configs'), N.href('/configs', { ns: n.namespace })),
        N.link(N.t('Services'), N.href('/services', { ns: n.namespace })),
        admin && n.type !== 0 ? N.button(N.t('Edit'), () => edit(n), 'link') : null,
        admin && n.type !== 0 ? N.button(N.t('Delete'), () => remove(n), 'link danger') : null),
    },
  ], N.state.namespaces));
  draw();
  N.every(3000, async () => {
    try { await N.loadNamespaces(); draw(); } catch (e) { N.fail(e); }
  });
};
