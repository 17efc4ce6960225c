// Access control (auth on, administrators): users, roles, permissions.

const AUTH = '/v3/auth';
N.accessTabs = (here) => h('nav.tabs', { 'aria-label': N.t('Access control') }, [
  ['/users', N.t('Users')], ['/roles', N.t('Roles')], ['/permissions', N.t('Permissions')],
].map(([p, label]) => N.link(label, N.href(p, { ns: N.ns() }), here === p ? { 'aria-current': 'page' } : null)));

N.pages['/users'] = async function (q, main) {
  const pageNo = Number(q.page || 1), pageSize = 20;
  const page = await N.get(AUTH + '/user/list', { pageNo, pageSize, username: q.user || '', search: 'blur' });
  const create = async () => {
    const v = await N.formDialog(N.t('Create user'), [
      ['username', N.t('User name'), N.input('username', '', { required: true, autocomplete: 'off' })],
      ['password', N.t('Password'), N.input('password', '', { type: 'password', required: true, autocomplete: 'new-password' })],
    ], N.t('Create'));
    if (!v) return;
    try { await N.api('POST', AUTH + '/user', v); N.flash(N.t('User created')); N.render(); } catch (e) { N.fail(e); }
  };
  const reset = async (u) => {
    const v = await N.formDialog(`${N.t('New password for')} ${u.username}`, [
      ['newPassword', N.t('New password'), N.input('newPassword', '', { type: 'password', required: true, autocomplete: 'new-password' })],
    ]);
    if (!v) return;
    try { await N.api('PUT', AUTH + '/user', { username: u.username, newPassword: v.newPassword }); N.flash(N.t('Password changed')); } catch (e) { N.fail(e); }
  };
  const remove = async (u) => {
    if (!(await N.confirm(`${N.t('Delete user')} ${u.username}?`, N.t('Delete')))) return;
    try { await N.api('DELETE', AUTH + '/user', { username: u.username }); N.flash(N.t('Deleted')); N.render(); } catch (e) { N.fail(e); }
  };
  const user = N.input('user', q.user);
  N.append(main, [
    N.titleBar(N.t('Users'), N.button(N.t('Create user'), create, 'primary')), N.accessTabs('/users'),
    h('form.filters', { role: 'search', onsubmit: (e) => { e.preventDefault(); N.go('/users', { ns: N.ns(), user: user.value }); } },
      N.field(N.t('User name contains'), user), h('div.actions', null, h('button.primary', { type: 'submit' }, N.t('Search')))),
    N.table([
      { title: N.t('User name'), cell: (u) => u.username },
      {
        title: N.t('Actions'), cell: (u) => h('div.actions', null,
          N.button(N.t('Change password'), () => reset(u), 'link'),
          N.button(N.t('Delete'), () => remove(u), 'link danger', { 'aria-label': `${N.t('Delete user')} ${u.username}` })),
      },
    ], page.pageItems || []),
    N.pager(page.totalCount, pageNo, pageSize, (p) => N.go('/users', Object.assign({}, q, { page: p }))),
  ]);
};

N.pages['/roles'] = async function (q, main) {
  const pageNo = Number(q.page || 1), pageSize = 20;
  const page = await N.get(AUTH + '/role/list', { pageNo, pageSize, role: q.role || '', username: '', search: 'blur' });
  const add = async () => {
    const v = await N.formDialog(N.t('Bind a role to a user'), [
      ['role', N.t('Role'), N.input('role', '', { required: true })],
      ['username', N.t('User name'), N.input('username', '', { required: true })],
    ], N.t('Bind'));
    if (!v) return;
    try { await N.api('POST', AUTH + '/role', v); N.flash(N.t('Role bound')); N.render(); } catch (e) { N.fail(e); }
  };
  const remove = async (r) => {
    if (!(await N.confirm(`${N.t('Unbind role')} ${r.role} ${N.t('from')} ${r.username}?`, N.t('Unbind')))) return;
    try { await N.api('DELETE', AUTH + '/role', { role: r.role, username: r.username }); N.flash(N.t('Deleted')); N.render(); } catch (e) { N.fail(e); }
  };
  N.append(main, [
    N.titleBar(N.t('Roles'), N.button(N.t('Bind a role to a user'), add, 'primary')), N.accessTabs('/roles'),
    N.table([
      { title: N.t('Role'), cell: (r) => r.role },
      { title: N.t('User name'), cell: (r) => r.username },
      { title: N.t('Actions'), cell: (r) => N.button(N.t('Unbind'), () => remove(r), 'link danger', { 'aria-label': `${N.t('Unbind role')} ${r.role} ${r.username}` }) },
    ], page.pageItems || []),
    N.pager(page.totalCount, pageNo, pageSize, (p) => N.go('/roles', Object.assign({}, q, { page: p }))),
  ]);
};

N.pages['/permissions'] = async function (q, main) {
  const pageNo = Number(q.page || 1), pageSize = 20;
  const page = await N.get(AUTH + '/permission/list', { pageNo, pageSize, role: q.role || '', search: 'blur' });
  const add = async () => {
    const v = await N.formDialog(N.t('Grant a permission'), [
      ['role', N.t('Role'), N.input('role', '', { required: true })],
      ['resource', N.t('Resource (namespace:group:type/name, * allowed)'), N.input('resource', '', { required: true, placeholder: 'dev:*:*' })],
      ['action', N.t('Action'), N.select('action', [['r', N.t('read')], ['w', N.t('write')], ['rw', N.t('read and write')]], 'r')],
    ], N.t('Grant'));
    if (!v) return;
    try { await N.api('POST', AUTH + '/permission', v); N.flash(N.t('Permission granted')); N.render(); } catch (e) { N.fail(e); }
  };
  const remove = async (p) => {
    if (!(await N.confirm(`${N.t('Revoke')} ${p.action} ${N.t('on')} ${p.resource} ${N.t('from')} ${p.role}?`, N.t('Revoke')))) return;
    try { await N.api('DELETE', AUTH + '/permission', { role: p.role, resource: p.resource, action: p.action }); N.flash(N.t('Deleted')); N.render(); } catch (e) { N.fail(e); }
  };
  N.append(main, [
    N.titleBar(N.t('Permissions'), N.button(N.t('Grant a permission'), add, 'primary')), N.accessTabs('/permissions'),
    N.table([
      { title: N.t('Role'), cell: (p) => p.role },
      { title: N.t('Resource'), cell: (p) => p.resource },
      { title: N.t('Action'), cell: (p) => p.action },
      { title: N.t('Actions'), cell: (p) => N.button(N.t('Revoke'), () => remove(p), 'link danger', { 'aria-label': `${N.t('Revoke')} ${p.role} ${p.resource}` }) },
    ], page.pageItems || []),
    N.pager(page.totalCount, pageNo, pageSize, (p) => N.go('/permissions', Object.assign({}, q, { page: p }))),
  ]);
};
