// Environments: list, create, and each one's configuration, build state and build log.
import { h, replace, link, fmtTime, json, busy, errorBox } from '../dom.js';
import { get, post, del, listAll, text } from '../api.js';
import { navigate } from '../router.js';
import { environmentForm } from '../forms.js';
import { keepKey, selfHostedPanel } from './work.js';

// POLL_MS is how often a preparing environment's state and log are re-read.
const POLL_MS = 2000;

export async function environmentsView(root) {
  const envs = await listAll('/environments', { limit: 100, include_archived: 'true' });
  const form = environmentForm({ withType: true });
  const out = h('div');
  const btn = h('button', { type: 'submit', class: 'primary', id: 'env-save' }, 'Create environment');
  const f = h('form', { class: 'card' }, form.el, out, h('div', { class: 'actions' }, btn));
  f.addEventListener('submit', async e => {
    e.preventDefault();
    const env = await busy(btn, out, () => post('/environments', form.value()));
    // A self_hosted environment's key comes back once, in this response only.
    if (env?.environment_key) keepKey(env.id, env.environment_key);
    if (env) navigate(`/environments/${env.id}`);
  });
  replace(root, h('h1', null, 'Environments'),
    envs.length ? h('table', { class: 'list', id: 'environments-table' },
      h('thead', null, h('tr', null, ['Name', 'Provider', 'Networking', 'State', 'Created'].map(c => h('th', null, c)))),
      h('tbody', null, envs.map(e => h('tr', { dataset: { id: e.id } },
        h('td', null, link(`/environments/${e.id}`, e.name)), h('td', null, e.config?.type === 'self_hosted' ? 'self-hosted' : e.config?.provider || 'default'),
        h('td', null, e.config?.networking?.type), h('td', null, badge(e)), h('td', null, fmtTime(e.created_at))))))
      : h('p', { class: 'empty' }, 'No environments yet.'),
    h('details', { class: 'create', open: !envs.length }, h('summary', null, 'New environment'), f));
}

// stateOf is what the badge shows: archived, else the build state (preparing, ready,
// failed); an environment without packages has no build and is ready.
const stateOf = e => e.archived_at ? 'archived' : e.state || 'ready';

const badge = e => h('span', { class: 'badge env-state', title: e.state_message || null, dataset: { status: stateOf(e) } }, stateOf(e));

export async function environmentView(root, { id }) {
  let env = await get(`/environments/${id}`);
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
  const head = h('div', { class: 'page-head' }, h('h1', null, env.name), badge(env));
  const build = h('section', { class: 'build', id: 'env-build' });
  if (env.config?.type === 'self_hosted') {
    const panel = selfHostedPanel(env);
    replace(root, head,
      h('p', { class: 'sub' }, `${env.id} · self-hosted · created ${fmtTime(env.created_at)} · updated ${fmtTime(env.updated_at)}`),
      panel.el,
      h('details', null, h('summary', null, 'Raw configuration'), h('pre', null, json(env))),
      out, h('div', { class: 'actions' }, archive, remove));
    return panel.stop;
  }
  replace(root, head,
    h('p', { class: 'sub' }, `${env.id} · created ${fmtTime(env.created_at)} · updated ${fmtTime(env.updated_at)}`),
    h('dl', { class: 'facts' },
      h('dt', null, 'Provider'), h('dd', null, env.config?.provider || 'server default'),
      h('dt', null, 'Networking'), h('dd', null, env.config?.networking?.type,
        env.config?.networking?.allowed_hosts?.length ? ` (${env.config.networking.allowed_hosts.join(', ')})` : ''),
      h('dt', null, 'Packages'), h('dd', null, pkgs.length ? pkgs.join('; ') : 'none')),
    build,
    h('details', null, h('summary', null, 'Raw configuration'), h('pre', null, json(env))),
    out, h('div', { class: 'actions' }, archive, remove));

  if (!env.state) {
    // Nothing to build (no packages, archived, or a server without builds).
    replace(build, h('h2', null, 'Build'), h('p', { class: 'sub' }, 'No packages to install: sessions start from the provider\'s base image.'));
    return null;
  }
  // A preparing build is re-read every POLL_MS until it is ready or failed, or the user
  // leaves the page (the returned cleanup stops the timer and any request in flight).
  const stop = new AbortController();
  let timer = null;
  const message = h('p', { class: 'sub', id: 'env-state-message' });
  const log = h('pre', { id: 'env-build-log', class: 'build-log' });
  const logErr = h('div');
  replace(build, h('h2', null, 'Build'), message, logErr, log);
  const show = async () => {
    try {
      log.textContent = (await text(`/environments/${id}/build_log`, { signal: stop.signal })) || '(no output yet)';
      logErr.replaceChildren();
    } catch (err) {
      if (stop.signal.aborted) return;
      logErr.replaceChildren(errorBox(err));
    }
    head.lastElementChild.replaceWith(badge(env));
    message.textContent = env.state === 'preparing' ? 'Installing packages; this page refreshes every 2 s.'
      : env.state === 'failed' ? `Build failed: ${env.state_message || 'see the log'}`
        : 'Packages installed: sessions start from this layer.';
    build.dataset.state = env.state;
    if (env.state !== 'preparing' || stop.signal.aborted) return;
    timer = setTimeout(async () => {
      try {
        env = await get(`/environments/${id}`, undefined, { signal: stop.signal });
      } catch (err) {
        if (stop.signal.aborted) return;
        logErr.replaceChildren(errorBox(err));
      }
      show();
    }, POLL_MS);
  };
  await show();
  return () => {
    stop.abort();
    clearTimeout(timer);
  };
}
