// Self-hosted environments (docs/self-hosted.md): the environment key, shown once, with the
// `hangar worker` command filled in; key rotation; and the work queue (stats and items).
import { h, link, fmtTime, fmtNum, busy, errorBox } from '../dom.js';
import { get, post } from '../api.js';

// WORK_POLL_MS is how often the work queue panel re-reads the stats and items.
const WORK_POLL_MS = 3000;

// A freshly issued key travels from the create form to the environment's page here, in
// memory only: never in the URL, history or storage. take() hands it out once.
let fresh = null;
export function keepKey(envID, key) {
  fresh = { envID, key };
}
function takeKey(envID) {
  const k = fresh && fresh.envID === envID ? fresh.key : null;
  fresh = null;
  return k;
}

// workerCommand is the command line that makes a machine this environment's worker.
export const workerCommand = (envID, key) =>
  `hangar worker --environment-id ${envID} --environment-key ${key} --base-url ${location.origin}`;

// keyBox shows a key once, with copy buttons for the key and the worker command.
function keyBox(envID, key) {
  const cmd = workerCommand(envID, key);
  const copied = h('small', { class: 'hint', 'aria-live': 'polite' });
  const copy = (value, what, source) => async () => {
    try {
      await navigator.clipboard.writeText(value);
      copied.textContent = `${what} copied.`;
    } catch {
      // No clipboard permission (an insecure origin, a headless browser): select the text
      // so Ctrl+C copies it.
      const range = document.createRange();
      range.selectNodeContents(source);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      copied.textContent = `Select and copy the ${what.toLowerCase()} (Ctrl+C): the browser refused the clipboard.`;
    }
  };
  const keyEl = h('pre', { id: 'env-key', class: 'mono' }, key);
  const cmdEl = h('pre', { id: 'env-worker-cmd', class: 'mono' }, cmd);
  return h('section', { class: 'card key-box', id: 'env-key-box', role: 'alert' },
    h('h2', null, 'Environment key'),
    h('p', null, 'Shown once: copy it now. The server keeps only its hash; ', h('b', null, 'Rotate key'), ' issues a new one.'),
    h('div', { class: 'copy-row' }, keyEl, h('button', { type: 'button', id: 'env-key-copy', onclick: copy(key, 'Key', keyEl) }, 'Copy')),
    h('div', { class: 'label' }, 'Run a worker on the machine that should run the tools:'),
    h('div', { class: 'copy-row' }, cmdEl, h('button', { type: 'button', id: 'env-worker-copy', onclick: copy(cmd, 'Command', cmdEl) }, 'Copy')),
    copied);
}

const STATES = ['queued', 'starting', 'active', 'stopping', 'stopped'];

// selfHostedPanel is the self-hosted part of an environment's page: the key (once, after
// create or rotate), the rotate button and the work queue, re-read every WORK_POLL_MS.
// It returns {el, stop}; stop ends the polling.
export function selfHostedPanel(env) {
  const id = env.id;
  const keySlot = h('div', { id: 'env-key-slot' });
  const first = takeKey(id);
  if (first) keySlot.append(keyBox(id, first));
  const out = h('div');
  const rotate = h('button', { type: 'button', id: 'env-rotate-key', disabled: !!env.archived_at }, 'Rotate key');
  rotate.addEventListener('click', async () => {
    if (!confirm(`Rotate the key of ${env.name}? The current key stops working at once; running workers must be restarted with the new one.`)) return;
    const res = await busy(rotate, out, () => post(`/environments/${id}/rotate_key`));
    if (res?.environment_key) keySlot.replaceChildren(keyBox(id, res.environment_key));
  });

  const stats = h('div', { class: 'stats', id: 'work-stats' }, h('small', null, 'Loading…'));
  const items = h('div', { id: 'work-items' });
  const err = h('div');
  const stop = new AbortController();
  let timer = null;
  const stat = (n, label) => h('div', null, h('b', null, n), h('small', null, label));
  const refresh = async () => {
    try {
      const [st, list] = await Promise.all([
        get(`/environments/${id}/work/stats`, undefined, { signal: stop.signal }),
        get(`/environments/${id}/work`, { limit: 50 }, { signal: stop.signal }),
      ]);
      stats.replaceChildren(stat(fmtNum(st.depth), 'queued'), stat(fmtNum(st.pending), 'claimed, not acknowledged'),
        stat(fmtNum(st.workers_polling), 'workers polling (30 s)'),
        stat(st.oldest_queued_at ? fmtTime(st.oldest_queued_at) : '—', 'oldest queued'));
      stats.dataset.loaded = '';
      items.replaceChildren(list.data.length ? h('table', { class: 'list', id: 'work-table' },
        h('thead', null, h('tr', null, ['Item', 'For', 'State', 'Created', 'Last heartbeat', 'Stopped'].map(c => h('th', null, c)))),
        h('tbody', null, list.data.map(w => h('tr', { dataset: { id: w.id, state: w.state } },
          h('td', { class: 'mono' }, w.id),
          h('td', null, w.data?.type === 'session' ? link(`/sessions/${w.data.id}`, w.data.id) : w.data?.type || ''),
          h('td', null, h('span', { class: 'badge work-state', dataset: { status: STATES.includes(w.state) ? w.state : 'unknown' } }, w.state)),
          h('td', null, fmtTime(w.created_at)), h('td', null, fmtTime(w.latest_heartbeat_at)), h('td', null, fmtTime(w.stopped_at))))))
        : h('p', { class: 'empty' }, 'No work yet: each session started on this environment queues an item for a worker.'));
      err.replaceChildren();
    } catch (e) {
      if (stop.signal.aborted) return;
      err.replaceChildren(errorBox(e));
    }
    if (!stop.signal.aborted) timer = setTimeout(refresh, WORK_POLL_MS);
  };
  refresh();
  const el = h('div', null, keySlot,
    h('section', { class: 'work', id: 'env-work' },
      h('div', { class: 'page-head' }, h('h2', null, 'Work queue'), rotate),
      h('p', { class: 'sub' }, 'Sessions on this environment run their tools on your workers (',
        h('code', null, 'hangar worker'), ' or an SDK EnvironmentWorker). This panel refreshes every 3 s.'),
      out, stats, err, items));
  return { el, stop: () => { stop.abort(); clearTimeout(timer); } };
}
