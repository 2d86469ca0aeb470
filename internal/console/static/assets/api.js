// The public API client: the same /v1 endpoints and headers as Anthropic's SDKs. The key
// lives in this browser's localStorage only; the server never puts it in a page.

const KEY = 'hangar.apiKey';
const VERSION = '2023-06-01';
const BETA = 'managed-agents-2026-04-01';

export const getKey = () => localStorage.getItem(KEY) || '';
export function setKey(key) {
  if (key) localStorage.setItem(KEY, key);
  else localStorage.removeItem(KEY);
}

export class APIError extends Error {
  constructor(status, type, message, requestId) {
    super(message);
    this.status = status;
    this.type = type;
    this.requestId = requestId;
  }
}

function headers(extra) {
  return { 'x-api-key': getKey(), 'anthropic-version': VERSION, 'anthropic-beta': BETA, ...extra };
}

async function toError(res) {
  let type = 'api_error';
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = await res.json();
    if (body && body.error) ({ type, message } = body.error);
  } catch { /* not the error envelope */ }
  return new APIError(res.status, type, message, res.headers.get('request-id'));
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v == null || v === '') continue;
    for (const x of Array.isArray(v) ? v : [v]) q.append(k, x);
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

export async function request(method, path, body, { signal } = {}) {
  const init = { method, headers: headers(), signal };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch('/v1' + path, init);
  if (!res.ok) throw await toError(res);
  return res.json();
}

export const get = (path, params, opts) => request('GET', path + query(params), undefined, opts);
export const post = (path, body, opts) => request('POST', path, body ?? {}, opts);
export const del = (path, opts) => request('DELETE', path, undefined, opts);

// listAll follows next_page until max items are read.
export async function listAll(path, params = {}, max = 1000) {
  const out = [];
  let page;
  do {
    const res = await get(path, { ...params, page });
    out.push(...res.data);
    page = res.next_page;
  } while (page && out.length < max);
  return out.slice(0, max);
}

// text fetches a plain-text endpoint (an environment's build_log) with the key.
export async function text(path, { signal } = {}) {
  const res = await fetch('/v1' + path, { headers: headers(), signal, cache: 'no-store' });
  if (!res.ok) throw await toError(res);
  return res.text();
}

// sendEvents posts client events to a session and returns the stored echoes.
export async function sendEvents(sessionID, ...events) {
  const res = await post(`/sessions/${sessionID}/events`, { events });
  return res.data;
}

// download fetches a file's content with the key and saves it through a temporary link.
export async function download(fileID, filename) {
  const res = await fetch(`/v1/files/${fileID}/content`, { headers: headers() });
  if (!res.ok) throw await toError(res);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename || fileID;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// streamEvents follows a session's SSE stream with fetch(), since EventSource cannot send
// the x-api-key header. after is the last sequence number the caller has (the stream's
// `id:`); every reconnect sends it as Last-Event-ID, so the server replays what was
// missed and nothing is seen twice. onEvent(event, seq) gets each event; onState gets
// 'open', 'reconnecting', 'closed' or an error. It returns when signal aborts, the session
// is deleted, or the server refuses the stream (a 4xx). path picks another stream of the
// session (a child thread's /threads/{tid}/stream); sequence numbers are the session's.
export async function streamEvents(sessionID, { after = 0, signal, onEvent, onState = () => {}, path = `/sessions/${sessionID}/events/stream` }) {
  let last = after;
  let delay = 250;
  while (!signal.aborted) {
    try {
      const res = await fetch('/v1' + path, {
        headers: headers({ accept: 'text/event-stream', 'Last-Event-ID': String(last) }),
        signal,
        cache: 'no-store',
      });
      if (!res.ok) {
        const err = await toError(res);
        if (res.status < 500) {
          onState(err);
          return;
        }
        throw err;
      }
      onState('open');
      delay = 250;
      let ended = false;
      await readSSE(res.body, signal, frame => {
        if (!frame.data) return;
        const ev = JSON.parse(frame.data);
        if (frame.id) last = Number(frame.id);
        onEvent(ev, last);
        if (ev.type === 'session.deleted') ended = true;
      });
      if (ended) {
        onState('closed');
        return;
      }
    } catch (err) {
      if (signal.aborted) return;
      onState(err);
    }
    if (signal.aborted) return;
    onState('reconnecting');
    await wait(delay, signal);
    delay = Math.min(delay * 2, 5000);
  }
}

// readSSE parses a text/event-stream body into {id, event, data} frames.
async function readSSE(body, signal, onFrame) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const stop = () => reader.cancel().catch(() => {});
  signal.addEventListener('abort', stop, { once: true });
  let buf = '';
  let frame = { data: '' };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        if (line === '') {
          if (frame.data && frame.event !== 'ping') onFrame(frame);
          frame = { data: '' };
        } else if (!line.startsWith(':')) {
          const i = line.indexOf(':');
          const name = i < 0 ? line : line.slice(0, i);
          const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
          if (name === 'data') frame.data += (frame.data ? '\n' : '') + val;
          else if (name === 'id' || name === 'event') frame[name] = val;
        }
      }
    }
  } finally {
    signal.removeEventListener('abort', stop);
  }
}

function wait(ms, signal) {
  return new Promise(resolve => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}
