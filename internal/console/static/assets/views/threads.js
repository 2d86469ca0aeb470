// Multiagent pieces of the chat (docs/threads.md): the thread picker, the folds that group a
// child thread's cross-posted events in the session's view, and the delegation bubbles of
// agent.thread_message_sent / _received.
import { h, replace } from '../dom.js';
import { listAll } from '../api.js';

// THREAD_STATUS maps a session.thread_status_* event to the status it leaves the thread in.
export const THREAD_STATUS = {
  'session.thread_status_running': 'running',
  'session.thread_status_idle': 'idle',
  'session.thread_status_rescheduled': 'rescheduling',
  'session.thread_status_terminated': 'terminated',
};

// primaryOf is the session's primary thread ID, derived from the session's (sesn_X → sthr_X).
export const primaryOf = sessionID => 'sthr_' + sessionID.replace(/^sesn_/, '');

// threadPicker lists the session's threads (primary first) as buttons with a status badge;
// pick(tid) is called when the user chooses one. It stays hidden while the session has a
// single thread. refresh() re-reads the list; setStatus() updates a badge from an event.
export function threadPicker(sessionID, { current, pick }) {
  const el = h('div', { class: 'thread-picker', id: 'thread-picker', role: 'tablist', hidden: true });
  let threads = [];
  let active = current;
  const render = () => {
    replace(el, h('span', { class: 'label' }, 'Threads'), threads.map(t => {
      const primary = !t.parent_thread_id;
      return h('button', {
        type: 'button', role: 'tab', class: 'thread-tab' + (t.id === active ? ' active' : ''),
        'aria-selected': String(t.id === active), title: t.id, dataset: primary ? { thread: t.id, primary: '' } : { thread: t.id },
        onclick: () => { if (t.id !== active) pick(t.id); },
      }, primary ? `${t.agent?.name || 'coordinator'} (main)` : t.agent?.name || t.id,
      h('span', { class: 'badge', dataset: { status: t.archived_at ? 'archived' : t.status } }, t.archived_at ? 'archived' : t.status));
    }));
    el.hidden = threads.length < 2;
    el.dataset.count = String(threads.length);
  };
  let pending = null;
  return {
    el,
    get threads() { return threads; },
    // refresh coalesces concurrent calls into one request in flight.
    refresh() {
      pending ??= listAll(`/sessions/${sessionID}/threads`, { limit: 1000 }, Infinity)
        .then(list => { threads = list; render(); return list; })
        .catch(() => threads)
        .finally(() => { pending = null; });
      return pending;
    },
    select(tid) {
      active = tid;
      render();
    },
    setStatus(tid, status) {
      const t = threads.find(x => x.id === tid);
      if (!t) return false;
      t.status = status;
      render();
      return true;
    },
  };
}

// threadFold is a folded group of one child thread's events in the session's view, headed
// by the agent's name and the thread's status. open(tid) switches the chat to the thread.
export function threadFold(tid, agentName, open) {
  const badge = h('span', { class: 'badge thread-status', dataset: { status: 'running' } }, 'running');
  const body = h('div', { class: 'thread-body' });
  const el = h('details', { class: 'thread-fold', dataset: { thread: tid, status: 'running' } },
    h('summary', null, h('span', { class: 'thread-label' }, 'thread ', h('b', null, agentName || tid)), badge,
      h('button', { type: 'button', class: 'link thread-open', onclick: e => { e.preventDefault(); open(tid); } }, 'open thread')),
    body);
  return {
    el, body,
    setStatus(status) {
      badge.textContent = status;
      badge.dataset.status = status;
      el.dataset.status = status;
    },
  };
}

// delegationBubble shows a message between the coordinator and a roster agent. Names are
// absent towards and from the primary thread: that side is the coordinator.
export function delegationBubble(ev, body) {
  const sent = ev.type === 'agent.thread_message_sent';
  const name = sent ? ev.to_agent_name : ev.from_agent_name;
  const head = sent ? (name ? `delegated to ${name}` : 'reply to the coordinator')
    : (name ? `reply from ${name}` : 'task from the coordinator');
  return h('div', { class: `msg delegation ${sent ? 'sent' : 'received'}`, dataset: { event: ev.id } },
    h('div', { class: 'delegation-head' }, head), body);
}
