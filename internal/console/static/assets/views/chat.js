// The chat view of one session: replays the stored transcript (list events), then follows
// the live stream from the last listed sequence number, reconnecting with Last-Event-ID.
// Tool confirmations and custom tools are answered here; the interrupt button sends
// user.interrupt, which jumps the session's queue.
//
// Multiagent sessions (docs/threads.md): the session's view folds each child thread's
// cross-posted events under the thread's agent name, delegations show as bubbles, and the
// thread picker switches the page to one thread's own events and stream (?thread=sthr_…).
import { h, replace, link, json, fmtNum, errorBox } from '../dom.js';
import { get, listAll, sendEvents, streamEvents } from '../api.js';
import { THREAD_STATUS, primaryOf, threadPicker, threadFold, delegationBubble } from './threads.js';

// RESUMING are the fold statuses after which a thread_status_running continues the same task.
const RESUMING = new Set(['running', 'requires_action', 'rescheduling']);

export async function chatView(root, { id }) {
  const session = await get(`/sessions/${id}`);
  let ctrl = new AbortController();
  const seen = new Set();
  const tools = new Map(); // tool use event id → card
  const usage = { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, turns: 0 };
  let status = session.status;
  let stopReason = null;
  let primary = primaryOf(id);
  let view = primary; // the thread whose events the page shows
  const folds = new Map(); // child thread id → its latest fold in the session's view
  let target = null; // where apply() puts the event it renders

  const statusEl = h('span', { class: 'badge', id: 'chat-status' });
  const connEl = h('span', { class: 'conn', id: 'chat-conn' }, 'connecting…');
  const usageEl = h('span', { class: 'usage', id: 'chat-usage' });
  const transcript = h('div', { class: 'transcript', id: 'transcript', 'aria-live': 'polite' });
  const input = h('textarea', { id: 'message', rows: 2, placeholder: 'Message the agent (Ctrl+Enter to send)' });
  const sendBtn = h('button', { type: 'submit', class: 'primary', id: 'send' }, 'Send');
  const interruptBtn = h('button', { type: 'button', id: 'interrupt', class: 'danger', onclick: interrupt }, 'Interrupt');
  const composerOut = h('div');
  const composer = h('form', { class: 'composer', id: 'composer' }, input, h('div', { class: 'composer-actions' }, interruptBtn, sendBtn), composerOut);

  const agent = session.agent || {};
  const picker = threadPicker(id, { current: view, pick: tid => load(tid) });
  const threadNote = h('div', { class: 'sub thread-note', id: 'thread-note', hidden: true });
  replace(root, h('div', { class: 'chat' },
    h('header', { class: 'chat-head' },
      h('div', null, h('h1', null, session.title || session.id),
        h('div', { class: 'sub' }, link(`/agents/${agent.id}`, agent.name || agent.id), ` v${agent.version} · ${agent.engine || ''} · ${agent.model?.id || ''} · `,
          link(`/environments/${session.environment_id}`, session.environment_id))),
      h('div', { class: 'chat-meta' }, statusEl, usageEl, connEl)),
    picker.el, threadNote, transcript, composer));

  input.addEventListener('keydown', e => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) composer.requestSubmit();
  });
  composer.addEventListener('submit', async e => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text || view !== primary) return;
    sendBtn.disabled = true;
    composerOut.replaceChildren();
    try {
      const echoes = await sendEvents(id, { type: 'user.message', content: [{ type: 'text', text }] });
      input.value = '';
      echoes.forEach(apply);
    } catch (err) {
      composerOut.replaceChildren(errorBox(err));
    } finally {
      sendBtn.disabled = false;
      input.focus();
    }
  });

  async function interrupt() {
    interruptBtn.disabled = true;
    composerOut.replaceChildren();
    try {
      // In a child thread's view the interrupt names that thread: it stops the child only.
      const body = view === primary ? { type: 'user.interrupt' } : { type: 'user.interrupt', session_thread_id: view };
      (await sendEvents(id, body)).forEach(apply);
    } catch (err) {
      composerOut.replaceChildren(errorBox(err));
      interruptBtn.disabled = false;
    }
  }

  function setStatus(s, reason) {
    status = s;
    stopReason = reason || null;
    const waiting = s === 'idle' && stopReason?.type === 'requires_action';
    statusEl.textContent = waiting ? 'waiting for you' : s;
    statusEl.dataset.status = waiting ? 'requires_action' : s;
    interruptBtn.disabled = !(s === 'running' || waiting);
  }

  function showUsage() {
    usageEl.textContent = `${fmtNum(usage.turns)} turn${usage.turns === 1 ? '' : 's'} · ${fmtNum(usage.input)} in · ${fmtNum(usage.output)} out tokens`;
  }

  // Append keeps the view pinned to the bottom when the reader is already there.
  function add(el) {
    const pinned = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 40;
    (target || transcript).append(el);
    if (pinned) transcript.scrollTop = transcript.scrollHeight;
    return el;
  }

  function apply(ev) {
    if (ev.id && seen.has(ev.id)) return;
    if (ev.id) seen.add(ev.id);
    target = transcript;
    const tid = ev.session_thread_id;
    // In the session's view, a child thread's cross-posted events go into its fold.
    if (view === primary && tid && tid !== primary && ev.type !== 'session.thread_created') {
      target = foldOf(tid, ev.agent_name, ev.type === 'session.thread_status_running').body;
    }
    if (THREAD_STATUS[ev.type]) {
      threadStatus(ev, tid, THREAD_STATUS[ev.type]);
      return;
    }
    switch (ev.type) {
      case 'session.thread_created':
        add(h('div', { class: 'note thread-created', dataset: { event: ev.id, thread: tid } }, `New thread: ${ev.agent_name || tid}`));
        picker.refresh();
        break;
      case 'agent.thread_message_sent':
      case 'agent.thread_message_received':
        add(delegationBubble(ev, renderText(ev.content)));
        break;
      case 'user.message':
        add(h('div', { class: 'msg user', dataset: { event: ev.id } }, renderText(ev.content)));
        break;
      case 'agent.message':
        add(h('div', { class: 'msg agent', dataset: { event: ev.id } }, renderText(ev.content)));
        break;
      case 'agent.thinking':
        add(h('details', { class: 'thinking', dataset: { event: ev.id } }, h('summary', null, 'Thinking'),
          h('div', { class: 'pre' }, textOf(ev.content) || ev.thinking || 'The engine reported thinking without text.')));
        break;
      case 'agent.tool_use':
      case 'agent.mcp_tool_use':
        toolCard(ev, ev.type === 'agent.mcp_tool_use' ? `${ev.mcp_server_name}/${ev.name}` : ev.name, false);
        break;
      case 'agent.custom_tool_use':
        toolCard(ev, ev.name, true);
        break;
      case 'agent.tool_result':
      case 'agent.mcp_tool_result':
        toolResult(ev.tool_use_id || ev.mcp_tool_use_id, ev.content, ev.is_error);
        break;
      case 'user.custom_tool_result':
        settle(ev.custom_tool_use_id, 'answered');
        toolResult(ev.custom_tool_use_id, ev.content, ev.is_error);
        break;
      case 'user.tool_confirmation':
        settle(ev.tool_use_id, ev.result === 'allow' ? 'allowed' : 'denied');
        break;
      case 'user.interrupt':
        add(h('div', { class: 'note', dataset: { event: ev.id } }, 'Interrupted'));
        break;
      case 'session.status_running':
        setStatus('running');
        break;
      case 'session.status_idle':
        if (ev.stop_reason?.type !== 'requires_action') usage.turns++;
        setStatus('idle', ev.stop_reason);
        if (ev.stop_reason?.type !== 'requires_action') {
          for (const card of tools.values()) if (card.pending) settle(card.dataset.tool, 'cancelled');
        }
        if (ev.stop_reason?.type === 'retries_exhausted') add(h('div', { class: 'note error' }, 'The turn failed: retries exhausted'));
        showUsage();
        break;
      case 'session.status_terminated':
        setStatus('terminated');
        break;
      case 'session.status_rescheduled':
        setStatus('rescheduling');
        break;
      case 'session.error':
        add(h('div', { class: 'note error', dataset: { event: ev.id } }, `${ev.error?.type}: ${ev.error?.message}`,
          ev.error?.retry_status ? ` (${ev.error.retry_status.type})` : ''));
        break;
      case 'session.deleted':
        add(h('div', { class: 'note' }, 'This session was deleted.'));
        setStatus('deleted');
        composer.hidden = true;
        break;
      case 'span.model_request_end': {
        const u = ev.model_usage || {};
        usage.input += u.input_tokens || 0;
        usage.output += u.output_tokens || 0;
        showUsage();
        break;
      }
    }
  }

  // toolCard shows a tool call folded, with a prompt when it awaits the user: a
  // confirmation (always_ask) or a custom tool's result.
  function toolCard(ev, name, custom) {
    const resultEl = h('pre', { class: 'result' }, '…');
    const stateEl = h('span', { class: 'tool-state' }, 'running');
    const card = h('div', { class: 'tool', dataset: { tool: ev.id } },
      h('details', null, h('summary', null, h('span', { class: 'tool-name' }, custom ? 'custom tool ' : 'tool ', h('b', null, name)), stateEl),
        h('div', { class: 'label' }, 'Input'), h('pre', null, json(ev.input ?? {})), h('div', { class: 'label' }, 'Result'), resultEl));
    card.resultEl = resultEl;
    card.stateEl = stateEl;
    if (custom) {
      card.pending = true;
      stateEl.textContent = 'awaiting your result';
      const text = h('textarea', { class: 'custom-result', rows: 2, placeholder: 'The tool\'s output' });
      const isErr = h('input', { type: 'checkbox', class: 'custom-error' });
      const out = h('div');
      const btn = h('button', { type: 'submit', class: 'primary custom-send' }, 'Send result');
      const form = h('form', { class: 'prompt' }, h('div', null, `The agent called ${name}. Answer with its result:`), text,
        h('div', { class: 'actions' }, h('label', { class: 'check' }, isErr, ' is an error'), btn), out);
      form.addEventListener('submit', async e => {
        e.preventDefault();
        btn.disabled = true;
        try {
          (await sendEvents(id, { type: 'user.custom_tool_result', custom_tool_use_id: ev.id,
            content: [{ type: 'text', text: text.value || '(no output)' }], is_error: isErr.checked })).forEach(apply);
        } catch (err) {
          out.replaceChildren(errorBox(err));
          btn.disabled = false;
        }
      });
      card.append(form);
    } else if (ev.evaluated_permission === 'ask') {
      card.pending = true;
      stateEl.textContent = 'awaiting confirmation';
      const reason = h('input', { class: 'deny-message', placeholder: 'Reason (optional, sent with a denial)' });
      const out = h('div');
      const answer = async (result, btn) => {
        btn.disabled = true;
        const body = { type: 'user.tool_confirmation', tool_use_id: ev.id, result };
        if (result === 'deny' && reason.value.trim()) body.deny_message = reason.value.trim();
        try {
          (await sendEvents(id, body)).forEach(apply);
        } catch (err) {
          out.replaceChildren(errorBox(err));
          btn.disabled = false;
        }
      };
      card.append(h('div', { class: 'prompt' }, h('div', null, 'The agent wants to run ', h('b', null, name), '. Allow it?'),
        h('div', { class: 'actions' }, reason,
          h('button', { type: 'button', class: 'danger confirm-deny', onclick: e => answer('deny', e.currentTarget) }, 'Deny'),
          h('button', { type: 'button', class: 'primary confirm-allow', onclick: e => answer('allow', e.currentTarget) }, 'Allow')), out));
    }
    tools.set(ev.id, card);
    add(card);
    // A prompt inside a folded thread must be seen: unfold it.
    if (card.pending) card.closest('details.thread-fold')?.setAttribute('open', '');
  }

  // foldOf is the fold a child thread's events go into; a new one starts each time the
  // thread starts a new task, so folds sit in the transcript where the work happened. A
  // thread resuming after a confirmation or a reschedule stays in its fold.
  function foldOf(tid, agentName, fresh) {
    let fold = folds.get(tid);
    if (!fold || (fresh && !RESUMING.has(fold.el.dataset.status))) {
      const name = agentName || picker.threads.find(t => t.id === tid)?.agent?.name;
      fold = threadFold(tid, name, t => load(t));
      folds.set(tid, fold);
      const into = target;
      target = transcript; // a fold always sits in the transcript itself
      add(fold.el);
      target = into;
    }
    return fold;
  }

  // threadStatus applies a session.thread_status_* event: a child's status in the
  // session's view (its fold and picker badge), or the page's status in a thread's view.
  function threadStatus(ev, tid, st) {
    if (!picker.setStatus(tid, st)) picker.refresh();
    if (view !== primary && tid === view) {
      if (st === 'idle' && ev.stop_reason?.type !== 'requires_action') usage.turns++;
      setStatus(st, ev.stop_reason);
      showUsage();
      return;
    }
    if (view !== primary || !tid || tid === primary) return;
    const fold = foldOf(tid, ev.agent_name, false);
    const shown = st === 'idle' && ev.stop_reason?.type && ev.stop_reason.type !== 'end_turn' ? ev.stop_reason.type : st;
    fold.setStatus(shown);
    add(h('div', { class: 'note thread-status-note', dataset: { event: ev.id } }, `${ev.agent_name || 'thread'}: ${shown}`));
    if (st === 'terminated') add(h('div', { class: 'note error' }, 'The thread was terminated.'));
  }

  function settle(toolID, state) {
    const card = tools.get(toolID);
    if (!card) return;
    card.pending = false;
    card.querySelector('.prompt')?.remove();
    card.stateEl.textContent = state;
    card.dataset.state = state;
  }

  function toolResult(toolID, content, isError) {
    const card = tools.get(toolID);
    if (!card) return;
    card.resultEl.textContent = textOf(content) || '(no output)';
    if (!card.dataset.state || card.dataset.state === 'allowed') {
      card.stateEl.textContent = isError ? 'error' : 'done';
      card.dataset.state = isError ? 'error' : 'done';
    }
    if (isError) card.classList.add('is-error');
  }

  // load shows one thread: the session's view (the primary thread) or a child's. Replay:
  // the stored events, then the stream from the last sequence number. Events are numbered
  // 1, 2, … per session; a view that leaves some out (a multiagent session's) makes the
  // count lower than the last number, so the stream may resend a few, dropped by their id.
  let loaded = false;
  async function load(tid) {
    ctrl.abort();
    const mine = ctrl = new AbortController();
    view = tid;
    seen.clear();
    tools.clear();
    folds.clear();
    Object.assign(usage, { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, turns: 0 });
    transcript.replaceChildren();
    picker.select(tid);
    const child = tid !== primary;
    const url = new URL(location.href);
    if (child) url.searchParams.set('thread', tid);
    else url.searchParams.delete('thread');
    if (url.href !== location.href) history.replaceState(null, '', url);
    const thread = picker.threads.find(t => t.id === tid);
    threadNote.hidden = !child;
    threadNote.textContent = child ? `Thread ${tid} of ${thread?.agent?.name || 'a roster agent'}: its own events. Messages go to the coordinator; Interrupt stops this thread only.` : '';
    sendBtn.disabled = child;
    // The first load has the session just read; coming back from a thread re-reads it.
    const current = child ? null : loaded ? await get(`/sessions/${id}`) : session;
    loaded = true;
    if (mine.signal.aborted) return;
    setStatus(child ? thread?.status || 'idle' : current.status);
    showUsage();
    const base = child ? `/sessions/${id}/threads/${tid}` : `/sessions/${id}`;
    const past = await listAll(`${base}/events`, { limit: 1000 }, Infinity);
    if (mine.signal.aborted) return;
    past.forEach(apply);
    if (!child && !past.some(e => e.type.startsWith('session.status_'))) setStatus(current.status);
    transcript.scrollTop = transcript.scrollHeight;
    transcript.dataset.thread = tid;
    transcript.dataset.replayed = String(past.length);
    streamEvents(id, {
      after: past.length,
      path: child ? `${base}/stream` : undefined,
      signal: mine.signal,
      onEvent: ev => { if (!mine.signal.aborted) apply(ev); },
      onState: st => {
        if (mine.signal.aborted) return;
        connEl.dataset.state = typeof st === 'string' ? st : 'error';
        connEl.textContent = typeof st === 'string' ? (st === 'open' ? 'live' : st) : `stream error: ${st.message}`;
      },
    });
  }

  // The thread list names the primary thread; a single-agent session keeps the picker hidden.
  const threads = await picker.refresh();
  primary = threads.find(t => !t.parent_thread_id)?.id || primary;
  const asked = new URLSearchParams(location.search).get('thread');
  await load(asked && threads.some(t => t.id === asked) ? asked : primary);
  input.focus();
  return () => ctrl.abort();
}

function textOf(content) {
  if (typeof content === 'string') return content;
  return (content || []).filter(b => b.type === 'text').map(b => b.text).join('\n');
}

// renderText shows text with fenced code blocks set apart; everything goes through
// textContent, so model output can never inject markup.
function renderText(content) {
  const text = textOf(content);
  const parts = text.split(/```[^\n]*\n?/);
  return parts.map((p, i) => (i % 2 ? h('pre', { class: 'code' }, p.replace(/\n$/, '')) : p && h('div', { class: 'pre' }, p)));
}
