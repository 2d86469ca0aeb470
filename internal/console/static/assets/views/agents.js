// Agents: list, create, edit (every edit is a new version), version history, archive.
import { h, replace, link, fmtTime, json, busy } from '../dom.js';
import { get, post, listAll } from '../api.js';
import { navigate } from '../router.js';
import { agentForm } from '../forms.js';

export async function agentsView(root) {
  const agents = await listAll('/agents', { limit: 100, include_archived: 'true' });
  replace(root, h('div', { class: 'page-head' }, h('h1', null, 'Agents'),
    h('a', { href: '/agents/new', class: 'button primary', id: 'new-agent', dataset: { link: '' } }, 'New agent')),
  agents.length ? h('table', { class: 'list', id: 'agents-table' },
    h('thead', null, h('tr', null, ['Name', 'Engine', 'Model', 'Version', 'Updated'].map(c => h('th', null, c)))),
    h('tbody', null, agents.map(a => h('tr', { dataset: { id: a.id }, class: a.archived_at ? 'archived' : null },
      h('td', null, link(`/agents/${a.id}`, a.name), a.archived_at ? h('small', null, ' archived') : ''),
      h('td', null, a.engine), h('td', null, a.model?.id), h('td', { class: 'num' }, a.version), h('td', null, fmtTime(a.updated_at))))))
    : h('p', { class: 'empty' }, 'No agents yet. ', link('/welcome', 'Start the setup wizard'), '.'));
}

export async function newAgentView(root) {
  const form = agentForm();
  const out = h('div');
  const btn = h('button', { type: 'submit', class: 'primary', id: 'agent-save' }, 'Create agent');
  const f = h('form', { class: 'card' }, form.el, out, h('div', { class: 'actions' }, btn));
  f.addEventListener('submit', async e => {
    e.preventDefault();
    const a = await busy(btn, out, () => post('/agents', form.value()));
    if (a) navigate(`/agents/${a.id}`);
  });
  replace(root, h('h1', null, 'New agent'), f);
}

export async function agentView(root, { id }) {
  const [agent, versions] = await Promise.all([get(`/agents/${id}`), listAll(`/agents/${id}/versions`, { limit: 100 })]);
  const form = agentForm(agent);
  const out = h('div');
  const save = h('button', { type: 'submit', class: 'primary', id: 'agent-save' }, `Save as version ${agent.version + 1}`);
  const archive = h('button', { type: 'button', class: 'danger', id: 'agent-archive', disabled: !!agent.archived_at }, agent.archived_at ? 'Archived' : 'Archive');
  const f = h('form', { class: 'card' }, form.el, out, h('div', { class: 'actions' }, archive, save));
  f.addEventListener('submit', async e => {
    e.preventDefault();
    const a = await busy(save, out, () => post(`/agents/${id}`, { ...form.value(), version: agent.version }));
    if (a) navigate(`/agents/${id}`, { replace: true });
  });
  archive.addEventListener('click', async () => {
    if (!confirm(`Archive agent ${agent.name}? Existing sessions keep running; no new ones can start.`)) return;
    if (await busy(archive, out, () => post(`/agents/${id}/archive`))) navigate(`/agents/${id}`, { replace: true });
  });
  replace(root, h('div', { class: 'page-head' }, h('h1', null, agent.name, h('small', null, ` v${agent.version}`)),
    link(`/sessions?agent_id=${id}`, 'Sessions')),
  h('p', { class: 'sub' }, `${agent.id} · created ${fmtTime(agent.created_at)}`),
  f,
  h('h2', null, 'Version history'),
  h('div', { id: 'agent-versions' }, versions.map(v => h('details', { class: 'version', dataset: { version: v.version } },
    h('summary', null, `v${v.version} · ${v.model?.id} · ${fmtTime(v.updated_at)}`), h('pre', null, json(v))))));
}
