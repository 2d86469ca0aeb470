// Tiny DOM helpers: h() builds elements, so no markup string ever meets user data.

// Properties set as DOM properties rather than attributes (a textarea's value, a box's
// checked state).
const PROPS = new Set(['value', 'checked', 'disabled', 'selected', 'open', 'hidden', 'multiple', 'required']);

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';

export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG, tag);
  setProps(el, props);
  append(el, children);
  return el;
}

function setProps(el, props) {
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (k === 'class') el.setAttribute('class', v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (PROPS.has(k)) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// link is an in-app link: app.js intercepts clicks on a[data-link].
export const link = (href, ...children) => h('a', { href, dataset: { link: '' } }, ...children);

export function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export const fmtNum = n => (n ?? 0).toLocaleString();

export function json(v) {
  return JSON.stringify(v, null, 2);
}

// field is a labelled form control.
export function field(label, control, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'label' }, label), control, hint && h('small', { class: 'hint' }, hint));
}

// lines splits a textarea into trimmed non-empty entries (newlines, commas or spaces).
export const words = text => (text || '').split(/[\s,]+/).map(x => x.trim()).filter(Boolean);

// errorBox shows an API or network error where a form or page can display it.
export function errorBox(err) {
  const rid = err && err.requestId ? ` (request ${err.requestId})` : '';
  return h('div', { class: 'error', role: 'alert' }, (err && err.message) || String(err), rid);
}

// busy disables a button while a promise runs and reports its error next to the form.
export async function busy(button, out, fn) {
  button.disabled = true;
  if (out) out.replaceChildren();
  try {
    return await fn();
  } catch (err) {
    if (out) out.replaceChildren(errorBox(err));
    else throw err;
  } finally {
    button.disabled = false;
  }
}
