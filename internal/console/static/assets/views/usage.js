// Usage at a glance: turns, tokens and estimated cost per day, stacked by agent, computed
// from the public API only: sessions' usage fields (tokens, by the day a session started)
// and their session.status_idle events (a finished turn each, by the day it ended).
import { h, s, replace, fmtNum } from '../dom.js';
import { get, listAll } from '../api.js';

const DAYS = 14;
const MAX_SESSIONS = 200;

// Estimated list prices in USD per million tokens [input, output]. The API reports no
// cost (usage.list_cost is not served), so the console estimates from tokens; cache
// reads are priced at a tenth of input. Unknown models count as zero.
const PRICES = [
  [/^claude-opus/, 5, 25], [/^claude-sonnet/, 3, 15], [/^claude-haiku/, 1, 5],
  [/^(gpt-5|codex)/, 1.25, 10], [/^gemini-2\.5-pro/, 1.25, 10], [/^gemini/, 0.3, 2.5],
];

export function estimateCost(model, u) {
  const id = (model || '').replace(/^[^/]+\//, '');
  const p = PRICES.find(([re]) => re.test(id));
  if (!p) return 0;
  return ((u.input_tokens || 0) * p[1] + (u.cache_read_input_tokens || 0) * p[1] * 0.1 + (u.output_tokens || 0) * p[2]) / 1e6;
}

const dayOf = iso => (iso || '').slice(0, 10);

const METRICS = {
  turns: { label: 'Turns', fmt: fmtNum },
  tokens: { label: 'Tokens', fmt: fmtNum },
  cost: { label: 'Est. cost', fmt: v => `$${v.toFixed(v < 1 ? 4 : 2)}` },
};

export async function usageView(root) {
  const sessions = await listAll('/sessions', { limit: 100, include_archived: 'true' }, MAX_SESSIONS);
  const idles = await mapLimit(sessions, 4, sess =>
    listAll(`/sessions/${sess.id}/events`, { 'types[]': 'session.status_idle', limit: 1000 }, 10000));

  // rows: {day, agent, turns, tokens, cost}
  const cells = new Map();
  const cell = (day, agent) => {
    const k = day + '\u0000' + agent;
    if (!cells.has(k)) cells.set(k, { day, agent, turns: 0, tokens: 0, cost: 0 });
    return cells.get(k);
  };
  sessions.forEach((sess, i) => {
    const agent = sess.agent?.name || sess.agent?.id || '?';
    const u = sess.usage || {};
    const c = cell(dayOf(sess.created_at), agent);
    c.tokens += (u.input_tokens || 0) + (u.output_tokens || 0) + (u.cache_read_input_tokens || 0);
    c.cost += estimateCost(sess.agent?.model?.id, u);
    for (const ev of idles[i]) if (ev.stop_reason?.type !== 'requires_action') cell(dayOf(ev.processed_at), agent).turns++;
  });

  const days = [];
  for (let i = DAYS - 1; i >= 0; i--) days.push(new Date(Date.now() - i * 864e5).toISOString().slice(0, 10));
  const agents = [...new Set([...cells.values()].map(c => c.agent))].sort();

  const chart = h('div', { class: 'chart', id: 'usage-chart' });
  const picker = h('div', { class: 'segmented', role: 'radiogroup' }, Object.entries(METRICS).map(([k, m]) =>
    h('button', { type: 'button', dataset: { metric: k }, onclick: () => draw(k) }, m.label)));
  const totals = agents.map(a => [...cells.values()].filter(c => c.agent === a)
    .reduce((t, c) => ({ turns: t.turns + c.turns, tokens: t.tokens + c.tokens, cost: t.cost + c.cost }), { turns: 0, tokens: 0, cost: 0 }));

  function draw(metric) {
    picker.querySelectorAll('button').forEach(b => b.classList.toggle('active', b.dataset.metric === metric));
    replace(chart, barChart(days, agents, (day, agent) => cells.get(day + '\u0000' + agent)?.[metric] || 0, METRICS[metric].fmt));
  }

  replace(root, h('div', { class: 'page-head' }, h('h1', null, 'Usage'), picker),
    h('p', { class: 'sub' }, `Last ${DAYS} days, ${sessions.length} most recent sessions. Cost is estimated from tokens at list prices; the API reports none.`),
    chart,
    h('table', { class: 'list', id: 'usage-table' },
      h('thead', null, h('tr', null, ['Agent', 'Turns', 'Tokens', 'Est. cost'].map(c => h('th', null, c)))),
      h('tbody', null, agents.map((a, i) => h('tr', null, h('td', null, swatch(i), a), h('td', { class: 'num' }, fmtNum(totals[i].turns)),
        h('td', { class: 'num' }, fmtNum(totals[i].tokens)), h('td', { class: 'num' }, METRICS.cost.fmt(totals[i].cost)))))));
  draw('turns');
}

const swatch = i => h('span', { class: `swatch c${i % 8}` });

// barChart draws one stacked bar per day, one colour per agent.
function barChart(days, agents, value, fmt) {
  const W = 700, H = 220, pad = { l: 56, r: 8, t: 10, b: 26 };
  const sums = days.map(d => agents.reduce((t, a) => t + value(d, a), 0));
  const max = Math.max(...sums, 0) || 1;
  const bw = (W - pad.l - pad.r) / days.length;
  const y = v => pad.t + (H - pad.t - pad.b) * (1 - v / max);
  const bars = [];
  days.forEach((d, i) => {
    let acc = 0;
    agents.forEach((a, j) => {
      const v = value(d, a);
      if (!v) return;
      bars.push(s('rect', { x: pad.l + i * bw + 2, y: y(acc + v), width: bw - 4, height: y(acc) - y(acc + v), class: `c${j % 8}` },
        s('title', null, `${d} · ${a}: ${fmt(v)}`)));
      acc += v;
    });
  });
  const labels = days.map((d, i) => i % 2 ? null : s('text', { x: pad.l + i * bw + bw / 2, y: H - 8, 'text-anchor': 'middle' }, d.slice(5)));
  return s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'usage per day' },
    s('line', { x1: pad.l, x2: W - pad.r, y1: y(0), y2: y(0), class: 'axis' }),
    s('line', { x1: pad.l, x2: W - pad.r, y1: y(max), y2: y(max), class: 'grid' }),
    s('text', { x: pad.l - 6, y: y(max) + 4, 'text-anchor': 'end' }, fmt(max)),
    s('text', { x: pad.l - 6, y: y(0) + 4, 'text-anchor': 'end' }, '0'),
    bars, labels);
}

async function mapLimit(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  }));
  return out;
}
