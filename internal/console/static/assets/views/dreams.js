// Dreams (docs/dreams.md): reorganize a memory store from sessions' transcripts. The list,
// a create form (memory store, sessions, model, instructions, output behavior) and each
// dream's page, re-read every POLL_MS while it is pending or running, with cancel/archive.
import { h, replace, link, fmtTime, fmtNum, json, field, busy, errorBox } from '../dom.js';
import { get, post, listAll } from '../api.js';
import { navigate } from '../router.js';

const POLL_MS = 2000;
const LIVE = new Set(['pending', 'running']);
const DEFAULT_MODEL = 'claude-opus-4-7';

const badge = d => h('span', { class: 'badge dream-status', dataset: { status: d.archived_at ? 'archived' : d.status } }, d.archived_at ? 'archived' : d.status);
const inputOf = (d, type) => (d.inputs || []).find(i => i.type === type) || {};

export async function dreamsView(root) {
  const [dreams, stores, sessions] = await Promise.all([
    listAll('/dreams', { limit: 100, include_archived: 'true' }, 200),
    listAll('/memory_stores', { limit: 100 }, 500),
    listAll('/sessions', { limit: 100 }, 100),
  ]);
  const store = h('select', { id: 'dream-store', required: true },
    stores.filter(s => !s.archived_at).map(s => h('option', { value: s.id }, `${s.name} (${s.id})`)));
  const picks = sessions.map(s => h('input', { type: 'checkbox', value: s.id, dataset: { session: s.id } }));
  const model = h('input', { id: 'dream-model', required: true, value: DEFAULT_MODEL, autocomplete: 'off' });
  const instructions = h('textarea', { id: 'dream-instructions', rows: 3, placeholder: 'Group the notes by project; keep deploy steps verbatim.' });
  const behavior = h('select', { id: 'dream-output' },
    h('option', { value: 'create_new' }, 'write a new store (the input stays as it is)'),
    h('option', { value: 'update_existing' }, 'rewrite the input store in place'));
  const out = h('div');
  const btn = h('button', { type: 'submit', class: 'primary', id: 'dream-save' }, 'Start dream');
  const form = h('form', { class: 'card', id: 'dream-form' },
    field('Memory store', store, stores.length ? null : 'No memory stores yet: create one through the API first.'),
    h('fieldset', null, h('legend', null, 'Sessions to learn from (1–100)'),
      sessions.length ? h('div', { class: 'session-picks' }, sessions.map((s, i) => h('label', { class: 'check' }, picks[i], ' ',
        s.title || s.id, h('small', null, ` ${s.agent?.name || ''} · ${fmtTime(s.created_at)}`))))
        : h('p', { class: 'empty' }, 'No sessions yet.')),
    field('Model', model), field('Instructions (optional)', instructions), field('Output', behavior),
    out, h('div', { class: 'actions' }, btn));
  form.addEventListener('submit', async e => {
    e.preventDefault();
    const ids = picks.filter(p => p.checked).map(p => p.value);
    const body = {
      inputs: [{ type: 'memory_store', memory_store_id: store.value }, { type: 'sessions', session_ids: ids }],
      model: model.value.trim(),
      output_behavior: behavior.value === 'update_existing' ? { type: 'update_existing', memory_store_id: store.value } : { type: 'create_new' },
    };
    if (instructions.value.trim()) body.instructions = instructions.value.trim();
    const d = await busy(btn, out, () => post('/dreams', body));
    if (d) navigate(`/dreams/${d.id}`);
  });
  replace(root, h('h1', null, 'Dreams'),
    h('p', { class: 'sub' }, 'A dream reads a memory store and sessions\' transcripts and asks a model for the store\'s reorganized content.'),
    dreams.length ? h('table', { class: 'list', id: 'dreams-table' },
      h('thead', null, h('tr', null, ['Dream', 'Memory store', 'Sessions', 'Status', 'Created'].map(c => h('th', null, c)))),
      h('tbody', null, dreams.map(d => h('tr', { dataset: { id: d.id }, class: d.archived_at ? 'archived' : null },
        h('td', null, link(`/dreams/${d.id}`, d.id)), h('td', null, inputOf(d, 'memory_store').memory_store_id),
        h('td', { class: 'num' }, (inputOf(d, 'sessions').session_ids || []).length), h('td', null, badge(d)), h('td', null, fmtTime(d.created_at))))))
      : h('p', { class: 'empty' }, 'No dreams yet.'),
    h('details', { class: 'create', open: !dreams.length }, h('summary', null, 'New dream'), form));
}

export async function dreamView(root, { id }) {
  const stop = new AbortController();
  let timer = null;
  const body = h('div', { id: 'dream' });
  const out = h('div');
  const cancel = h('button', { type: 'button', class: 'danger', id: 'dream-cancel' }, 'Cancel');
  const archive = h('button', { type: 'button', id: 'dream-archive' }, 'Archive');
  let d = await get(`/dreams/${id}`);
  cancel.addEventListener('click', async () => {
    if (!confirm('Cancel this dream? It writes nothing from now on.')) return;
    const res = await busy(cancel, out, () => post(`/dreams/${id}/cancel`));
    if (res) show(res);
  });
  archive.addEventListener('click', async () => {
    const res = await busy(archive, out, () => post(`/dreams/${id}/archive`));
    if (res) show(res);
  });
  const head = h('div', { class: 'page-head' }, h('h1', null, 'Dream ', h('small', null, id)), badge(d));
  replace(root, head, body, out, h('div', { class: 'actions' }, cancel, archive));

  function show(next) {
    d = next;
    head.lastElementChild.replaceWith(badge(d));
    const live = LIVE.has(d.status);
    cancel.hidden = !live;
    archive.hidden = live || !!d.archived_at;
    const sessions = inputOf(d, 'sessions').session_ids || [];
    const outputs = (d.outputs || []).filter(o => o.memory_store_id);
    const u = d.usage || {};
    body.dataset.status = d.status;
    replace(body,
      h('p', { class: 'sub', id: 'dream-message' }, live ? 'Working; this page refreshes every 2 s.'
        : d.status === 'completed' ? `Completed ${fmtTime(d.ended_at)}.`
          : d.status === 'failed' ? `Failed: ${d.error?.type || 'error'}: ${d.error?.message || ''}` : `Canceled ${fmtTime(d.ended_at)}.`),
      h('dl', { class: 'facts' },
        h('dt', null, 'Input store'), h('dd', null, inputOf(d, 'memory_store').memory_store_id),
        h('dt', null, 'Sessions'), h('dd', null, sessions.map((s, i) => [i ? ', ' : '', link(`/sessions/${s}`, s)])),
        h('dt', null, 'Model'), h('dd', null, d.model?.id || d.model),
        h('dt', null, 'Output'), h('dd', { id: 'dream-outputs' }, d.output_behavior?.type === 'update_existing' ? 'rewrites the input store' : 'a new store',
          outputs.length ? [': ', outputs.map(o => h('code', null, o.memory_store_id))] : ''),
        h('dt', null, 'Instructions'), h('dd', null, d.instructions || '—'),
        h('dt', null, 'Tokens'), h('dd', null, `${fmtNum(u.input_tokens)} in · ${fmtNum(u.output_tokens)} out`),
        h('dt', null, 'Created'), h('dd', null, fmtTime(d.created_at))),
      h('details', null, h('summary', null, 'Raw'), h('pre', null, json(d))));
    clearTimeout(timer);
    if (!live || stop.signal.aborted) return;
    timer = setTimeout(async () => {
      try {
        show(await get(`/dreams/${id}`, undefined, { signal: stop.signal }));
      } catch (err) {
        if (stop.signal.aborted) return;
        out.replaceChildren(errorBox(err));
        show(d); // try again at the next tick
      }
    }, POLL_MS);
  }
  show(d);
  return () => {
    stop.abort();
    clearTimeout(timer);
  };
}
