// Sessions: a filtered list and a form to start a new one.
import { h, replace, link, fmtTime, fmtNum, busy } from '../dom.js';
import { get, post, listAll } from '../api.js';
import { navigate } from '../router.js';

const STATUSES = ['', 'idle', 'running', 'rescheduling', 'terminated'];

export async function sessionsView(root) {
  const params = new URLSearchParams(location.search);
  const [agents, envs] = await Promise.all([listAll('/agents', { limit: 100 }), listAll('/environments', { limit: 100 })]);
  const agentSel = h('select', { id: 'filter-agent' }, h('option', { value: '' }, 'all agents'),
    agents.map(a => h('option', { value: a.id, selected: a.id === params.get('agent_id') }, a.name)));
  const statusSel = h('select', { id: 'filter-status' },
    STATUSES.map(s => h('option', { value: s, selected: s === (params.get('status') || '') }, s || 'any status')));
  const archived = h('input', { type: 'checkbox', id: 'filter-archived', checked: params.get('archived') === '1' });
  const table = h('div');
  const applyFilters = () => {
    const q = new URLSearchParams();
    if (agentSel.value) q.set('agent_id', agentSel.value);
    if (statusSel.value) q.set('status', statusSel.value);
    if (archived.checked) q.set('archived', '1');
    history.replaceState(null, '', '/sessions' + (q.size ? '?' + q : ''));
    load();
  };
  [agentSel, statusSel, archived].forEach(el => el.addEventListener('change', applyFilters));

  const newForm = newSessionForm(agents, envs);
  replace(root, h('div', { class: 'page-head' }, h('h1', null, 'Sessions'),
    agents.length ? null : h('a', { href: '/welcome', class: 'button primary', dataset: { link: '' } }, 'Get started')),
  newForm,
  h('div', { class: 'filters' }, agentSel, statusSel, h('label', { class: 'check' }, archived, ' include archived')), table);

  async function load() {
    const sessions = await get('/sessions', { limit: 100, agent_id: agentSel.value, 'statuses[]': statusSel.value || null,
      include_archived: archived.checked ? 'true' : null });
    if (!sessions.data.length) {
      replace(table, h('p', { class: 'empty' }, 'No sessions match.'));
      return;
    }
    replace(table, h('table', { class: 'list', id: 'sessions-table' },
      h('thead', null, h('tr', null, ['Session', 'Agent', 'Status', 'Tokens', 'Created'].map(c => h('th', null, c)))),
      h('tbody', null, sessions.data.map(s => h('tr', { dataset: { id: s.id } },
        h('td', null, link(`/sessions/${s.id}`, s.title || s.id)),
        h('td', null, s.agent?.name, h('small', null, ` v${s.agent?.version}`)),
        h('td', null, h('span', { class: 'badge', dataset: { status: s.status } }, s.status), s.archived_at ? ' archived' : ''),
        h('td', { class: 'num' }, fmtNum((s.usage?.input_tokens || 0) + (s.usage?.output_tokens || 0))),
        h('td', null, fmtTime(s.created_at)))))));
  }
  await load();
}

function newSessionForm(agents, envs) {
  if (!agents.length || !envs.length) return null;
  const agent = h('select', { id: 'new-session-agent' }, agents.filter(a => !a.archived_at).map(a => h('option', { value: a.id }, a.name)));
  const env = h('select', { id: 'new-session-env' }, envs.filter(e => !e.archived_at).map(e => h('option', { value: e.id }, e.name)));
  const title = h('input', { id: 'new-session-title', placeholder: 'Title (optional)' });
  const out = h('div');
  const btn = h('button', { type: 'submit', class: 'primary', id: 'new-session' }, 'New session');
  const form = h('form', { class: 'inline-form' }, agent, env, title, btn, out);
  form.addEventListener('submit', async e => {
    e.preventDefault();
    const s = await busy(btn, out, () => post('/sessions', { agent: agent.value, environment_id: env.value, title: title.value.trim() || null }));
    if (s) navigate(`/sessions/${s.id}`);
  });
  return form;
}
