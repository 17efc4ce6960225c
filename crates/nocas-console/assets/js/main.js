// The shell: header (navigation, namespace switcher, language, user), the
// login page, and the render loop that maps the URL to a page.

N.nav = function () {
  const s = N.state.session || {};
  const items = [
    ['/overview', N.t('Overview')],
    ['/namespaces', N.t('Namespaces')],
    ['/configs', N.t('Configs')],
    ['/services', N.t('Services')],
  ];
  if (N.isAdmin()) items.push(['/clients', N.t('Clients')], ['/cluster', N.t('Cluster')], ['/audit', N.t('Audit')]);
  else items.push(['/cluster', N.t('Cluster')]);
  if (s.authEnabled && N.isAdmin()) items.push(['/users', N.t('Access control')]);
  const here = N.route().path;
  return h('nav.main', { 'aria-label': N.t('Main') }, h('ul', null, items.map(([path, label]) => {
    const current = here === path || here.startsWith(path.replace(/s$/, ''));
    return h('li', null, N.link(label, N.href(path, { ns: N.ns() }), current ? { 'aria-current': 'page' } : null));
  })));
};

N.header = function () {
  const s = N.state.session || {};
  const nsSelect = N.select('namespace', N.state.namespaces.map((n) => [n.namespace, `${n.namespaceShowName} (${n.namespace})`]), N.ns(), {
    onchange: (e) => {
      localStorage.setItem('nocas.ns', e.target.value);
      const r = N.route();
      // A resource page belongs to its namespace: switching goes to the list.
      const list = { '/config': '/configs', '/service': '/services' };
      const base = Object.keys(list).find((p) => r.path.startsWith(p) && r.path !== p + 's');
      N.go(base ? list[base] : r.path, { ns: e.target.value });
    },
  });
  const other = N.state.lang === 'zh' ? 'English' : '中文';
  const lang = N.button(other, () => {
    N.setLang(N.state.lang === 'zh' ? 'en' : 'zh');
    N.render();
  }, 'link', { lang: N.state.lang === 'zh' ? 'en' : 'zh', 'aria-label': `${other} (${N.t('Switch language')})` });
  const user = s.authEnabled && s.username
    ? h('span.user', null, `${s.username}${s.admin ? ' (' + N.t('administrator') + ')' : ''} `,
      N.button(N.t('Log out'), () => { N.setToken(''); N.state.session = null; N.go('/login'); }, 'link'))
    : null;
  return h('header.top', null,
    h('a.brand', { href: N.href('/overview', { ns: N.ns() }) }, h('img', { src: '/nacos/console/icon.svg', alt: '' }), 'Nocas'),
    N.nav(),
    h('div.tools', null, N.field(N.t('Namespace'), nsSelect), lang, user));
};

N.pages['/login'] = async function (q, main) {
  let state = {};
  try { state = await N.get('/v1/console/server/state'); } catch (e) { /* shown below */ }
  if (state.auth_enabled === 'false') {
    N.state.session = null;
    return N.go(q.next ? q.next.split('?')[0] : '/overview', Object.fromEntries(new URLSearchParams((q.next || '').split('?')[1] || '')));
  }
  const initAdmin = state.auth_admin_request === 'true';
  const user = N.input('username', initAdmin ? 'nacos' : '', { autocomplete: 'username', required: true, readonly: initAdmin });
  const pass = N.input('password', '', { type: 'password', autocomplete: initAdmin ? 'new-password' : 'current-password', required: true });
  const msg = h('p.msg-inline', { role: 'alert' });
  const form = h('form.login.stack', {
    onsubmit: async (e) => {
      e.preventDefault();
      msg.textContent = '';
      try {
        if (initAdmin) {
          await N.api('POST', '/v3/auth/user/admin', { password: pass.value });
        }
        const body = new URLSearchParams({ username: user.value, password: pass.value });
        const resp = await fetch('/nacos/v1/auth/login', { method: 'POST', body, credentials: 'omit' });
        const data = await resp.json().catch(() => ({}));
        if (!resp.ok || !data.accessToken) {
          msg.textContent = N.t('Login failed') + ': ' + (data.message || resp.statusText || N.t('wrong user name or password'));
          pass.value = '';
          pass.focus();
          return;
        }
        N.setToken(data.accessToken);
        await N.loadSession();
        const next = q.next || '/overview';
        location.hash = '#' + next;
      } catch (err) {
        msg.textContent = err.message;
      }
    },
  },
  h('h1', null, initAdmin ? N.t('Set the administrator password') : N.t('Log in to Nocas')),
  N.field(N.t('User name'), user),
  N.field(N.t('Password'), pass),
  h('button.primary', { type: 'submit' }, initAdmin ? N.t('Set password and log in') : N.t('Log in')),
  msg);
  N.append(main, [form]);
  (initAdmin ? pass : user).focus();
};

N.render = async function () {
  N.stopTimers();
  const gen = ++N.generation;
  N.rendering = gen;
  const first = gen === 1;
  const app = document.getElementById('app');
  const { path, q } = N.route();
  document.documentElement.lang = N.state.lang === 'zh' ? 'zh-CN' : 'en';
  if (path === '/login') {
    N.fill(app, h('main.center', { id: 'main' }));
    N.append(app, [h('div.flash', { id: 'flash' })]);
    document.title = N.t('Log in') + ' · Nocas';
    await N.pages['/login'](q, document.getElementById('main'));
    if (gen === N.generation) document.body.dataset.rendered = location.hash;
    return;
  }
  if (!N.state.session) {
    try {
      await N.loadSession();
    } catch (e) {
      // The API already sent us to the login page (keeping where we were).
      if (location.hash.startsWith('#/login')) return;
      if (e.status === 401 || e.status === 403) return N.go('/login', { next: location.hash.slice(1) });
      N.fill(app, h('main', { id: 'main' }, h('p.msg.error', { role: 'alert' }, e.message)));
      return;
    }
  }
  if (q.ns) localStorage.setItem('nocas.ns', q.ns);
  const main = h('main', { id: 'main', tabindex: '-1' });
  // Messages outlive the page that raised them ("Deleted", then the list).
  const flash = document.getElementById('flash') || h('div.flash', { id: 'flash' });
  N.fill(app,
    h('a.skip', { href: '#main', onclick: (e) => { e.preventDefault(); main.focus(); } }, N.t('Skip to content')),
    N.header(),
    flash,
    main);
  const page = N.pages[path];
  if (!page) {
    N.append(main, [h('h1', null, N.t('Not found')), h('p', null, N.t('There is no such page.'))]);
    return;
  }
  try {
    await page(q, main);
  } catch (e) {
    if (gen === N.generation) N.append(main, [h('p.msg.error', { role: 'alert' }, e.message)]);
  }
  if (gen !== N.generation) return;
  N.rendering = 0;
  // Which address the page shows, once it is drawn (tests wait for it).
  document.body.dataset.rendered = location.hash;
  const heading = main.querySelector('h1');
  document.title = (heading ? heading.textContent + ' · ' : '') + 'Nocas';
  // After a navigation, keyboard and screen reader users start at the page.
  if (!first && !main.contains(document.activeElement)) main.focus({ preventScroll: true });
};

window.addEventListener('hashchange', () => N.render());
document.addEventListener('DOMContentLoaded', () => {
  N.setLang(localStorage.getItem('nocas.lang') || ((navigator.language || '').startsWith('zh') ? 'zh' : 'en'));
  N.render();
});
