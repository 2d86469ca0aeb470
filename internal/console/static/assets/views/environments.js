// Environments: list, create, and each one's configuration and state.
import { h, replace, link, fmtTime, json, busy } from '../dom.js';
import { get, post, del, listAll } from '../api.js';
import { navigate } from '../router.js';
import { environmentForm } from '../forms.js';

export async function environmentsView(root) {
  const envs = await listAll('/environments', { limit: 100, include_archived: 'true' });
  const form = environmentForm();
  const out = h('div');
  const btn = h('button', { type: 'submit', class: 'primary', id: 'env-save' }, 'Create environment');
  const f = h('form', { class: 'card' }, form.el, out, h('div', { class: 'actions' }, btn));
  f.addEventListener('submit', async e => {
    e.preventDefault();
    const env = await busy(btn, out, () => post('/environments', form.value()));
    if (env) navigate(`/environments/${env.id}`);
  });
  replace(root, h('h1', null, 'Environments'),
    envs.length ? h('table', { class: 'list', id: 'environments-table' },
      h('thead', null, h('tr', null, ['Name', 'Provider', 'Networking', 'State', 'Created'].map(c => h('th', null, c)))),
      h('tbody', null, envs.map(e => h('tr', { dataset: { id: e.id } },
        h('td', null, link(`/environments/${e.id}`, e.name)), h('td', null, e.config?.provider || 'default'),
        h('td', null, e.config?.networking?.type), h('td', null, state(e)), h('td', null, fmtTime(e.created_at))))))
      : h('p', { class: 'empty' }, 'No environments yet.'),
    h('details', { class: 'create', open: !envs.length }, h('summary', null, 'New environment'), f));
}

const state = e => h('span', { class: 'badge', dataset: { status: e.archived_at ? 'archived' : 'ready' } }, e.archived_at ? 'archived' : 'ready');

export async function environmentView(root, { id }) {
  const env = await get(`/environments/${id}`);
  const out = h('div');
  const archive = h('button', { type: 'button', id: 'env-archive', disabled: !!env.archived_at }, 'Archive');
  const remove = h('button', { type: 'button', class: 'danger', id: 'env-delete' }, 'Delete');
  archive.addEventListener('click', async () => {
    if (await busy(archive, out, () => post(`/environments/${id}/archive`))) navigate(`/environments/${id}`, { replace: true });
  });
  remove.addEventListener('click', async () => {
    if (!confirm(`Delete environment ${env.name}?`)) return;
    if (await busy(remove, out, () => del(`/environments/${id}`))) navigate('/environments');
  });
  const pk = env.config?.packages || {};
  const pkgs = Object.entries(pk).filter(([k, v]) => Array.isArray(v) && v.length).map(([k, v]) => `${k}: ${v.join(' ')}`);
  replace(root, h('div', { class: 'page-head' }, h('h1', null, env.name), state(env)),
    h('p', { class: 'sub' }, `${env.id} · created ${fmtTime(env.created_at)} · updated ${fmtTime(env.updated_at)}`),
    h('dl', { class: 'facts' },
      h('dt', null, 'Provider'), h('dd', null, env.config?.provider || 'server default'),
      h('dt', null, 'Networking'), h('dd', null, env.config?.networking?.type,
        env.config?.networking?.allowed_hosts?.length ? ` (${env.config.networking.allowed_hosts.join(', ')})` : ''),
      h('dt', null, 'Packages'), h('dd', null, pkgs.length ? pkgs.join('; ') : 'none'),
      h('dt', null, 'Build'), h('dd', null, 'Sandboxes are built per session, when it starts; failures appear as session.error events in its chat.')),
    h('details', null, h('summary', null, 'Raw configuration'), h('pre', null, json(env))),
    out, h('div', { class: 'actions' }, archive, remove));
}
