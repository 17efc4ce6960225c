// Cluster: the members and their Raft progress; administrators add and
// remove members.

N.pages['/cluster'] = async function (q, main) {
  const admin = N.isAdmin();
  const list = N.slot();
  const add = async () => {
    const v = await N.formDialog(N.t('Add member'), [
      ['address', N.t('Address (host:http-port[:raft-port])'), N.input('address', '', { required: true, placeholder: '10.0.0.4:8848' })],
      ['nodeId', N.t('Node ID (empty: next free)'), N.input('nodeId', '', { type: 'number', min: 1 })],
    ], N.t('Add'));
    if (!v) return;
    try {
      const params = { address: v.address.trim() };
      if (v.nodeId) params.nodeId = v.nodeId;
      await N.api('POST', '/v2/core/cluster/node', params);
      N.flash(N.t('Member added'));
      await load();
    } catch (e) { N.fail(e); }
  };
  const remove = async (m) => {
    if (!(await N.confirm(`${N.t('Remove member')} ${m.id} (${m.address})?`, N.t('Remove')))) return;
    try {
      await N.api('DELETE', '/v2/core/cluster/node', { nodeId: m.id });
      N.flash(N.t('Member removed'));
      await load();
    } catch (e) { N.fail(e); }
  };
  N.append(main, [N.titleBar(N.t('Cluster'), admin ? N.button(N.t('Add member'), add, 'primary') : null),
    h('p', null, N.t('Lag is how many log entries a member has yet to apply, against the leader\'s log.')),
    list]);
  const load = async () => N.fill(list, N.memberTable(await N.members(), admin ? [{
    title: N.t('Actions'), cell: (m) => N.button(N.t('Remove'), () => remove(m), 'link danger', { 'aria-label': `${N.t('Remove member')} ${m.id}` }),
  }] : []));
  await load();
  N.every(3000, () => load().catch(N.fail));
};
