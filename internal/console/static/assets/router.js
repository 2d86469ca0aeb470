// navigate changes the page without a reload; app.js registers the renderer.
let renderer = () => {};

export function onNavigate(fn) {
  renderer = fn;
}

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  renderer();
}
