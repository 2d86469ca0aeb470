// The console's shell: the API-key gate, the navigation and a small history router.
// Each view is async (root, params) => cleanup?; the cleanup (closing a chat stream) runs
// when the user navigates away.
import { h, replace, errorBox } from './dom.js';
import { get, getKey, setKey } from './api.js';
import { navigate, onNavigate } from './router.js';
import { onboardingView } from './views/onboarding.js';
import { agentsView, agentView, newAgentView } from './views/agents.js';
import { environmentsView, environmentView } from './views/environments.js';
import { vaultsView, vaultView } from './views/vaults.js';
import { filesView } from './views/files.js';
import { sessionsView } from './views/sessions.js';
import { chatView } from './views/chat.js';
import { usageView } from './views/usage.js';
import { dreamsView, dreamView } from './views/dreams.js';
import { tunnelsView, tunnelView } from './views/tunnels.js';
import { profilesView, profileView } from './views/profiles.js';

const routes = [
  [/^\/$/, homeView],
  [/^\/welcome$/, onboardingView],
  [/^\/sessions$/, sessionsView],
  [/^\/sessions\/(?<id>[\w-]+)$/, chatView],
  [/^\/agents$/, agentsView],
  [/^\/agents\/new$/, newAgentView],
  [/^\/agents\/(?<id>[\w-]+)$/, agentView],
  [/^\/environments$/, environmentsView],
  [/^\/environments\/(?<id>[\w-]+)$/, environmentView],
  [/^\/vaults$/, vaultsView],
  [/^\/vaults\/(?<id>[\w-]+)$/, vaultView],
  [/^\/files$/, filesView],
  [/^\/usage$/, usageView],
  [/^\/dreams$/, dreamsView],
  [/^\/dreams\/(?<id>[\w-]+)$/, dreamView],
  [/^\/tunnels$/, tunnelsView],
  [/^\/tunnels\/(?<id>[\w-]+)$/, tunnelView],
  [/^\/profiles$/, profilesView],
  [/^\/profiles\/(?<id>[\w-]+)$/, profileView],
];

const NAV = [['/sessions', 'Sessions'], ['/agents', 'Agents'], ['/environments', 'Environments'], ['/vaults', 'Vaults'],
  ['/files', 'Files'], ['/tunnels', 'Tunnels'], ['/dreams', 'Dreams'], ['/profiles', 'Profiles'], ['/usage', 'Usage']];

const app = document.getElementById('app');
let cleanup = null;
let generation = 0;


// homeView sends a first-time user to the onboarding wizard, everyone else to sessions.
async function homeView() {
  const agents = await get('/agents', { limit: 1 });
  navigate(agents.data.length ? '/sessions' : '/welcome', { replace: true });
}

async function render() {
  const gen = ++generation;
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  if (!getKey()) {
    replace(app, keyView());
    return;
  }
  const path = location.pathname.replace(/\/+$/, '') || '/';
  const nav = h('nav', { class: 'nav' },
    h('a', { href: '/', class: 'brand', dataset: { link: '' } }, h('img', { src: '/favicon.svg', alt: '' }), 'Hangar'),
    NAV.map(([href, label]) => h('a', { href, dataset: { link: '' }, class: path.startsWith(href) ? 'active' : null }, label)),
    h('span', { class: 'spacer' }),
    h('button', { type: 'button', class: 'link', id: 'forget-key', onclick: () => { setKey(''); render(); } }, 'Forget key'));
  const main = h('main', { id: 'main' });
  replace(app, nav, main);
  for (const [re, view] of routes) {
    const m = path.match(re);
    if (!m) continue;
    try {
      const done = await view(main, m.groups || {});
      if (gen === generation) cleanup = done || null;
      else if (done) done();
    } catch (err) {
      if (gen !== generation) return;
      if (err.status === 401) {
        setKey('');
        replace(app, keyView('That API key was refused; enter it again.'));
        return;
      }
      replace(main, errorBox(err));
    }
    return;
  }
  replace(main, h('h1', null, 'Not found'), h('p', null, 'No console page at ', path, '.'));
}

// keyView asks for the admin API key once; it is checked against the API, then kept in
// localStorage for this browser.
function keyView(message) {
  const input = h('input', { id: 'api-key', type: 'password', autocomplete: 'current-password', required: true, placeholder: 'the key in <data-dir>/api-key' });
  const out = h('div', null, message && errorBox({ message }));
  const form = h('form', { class: 'card key-form', id: 'key-form' },
    h('h1', null, 'Hangar console'),
    h('p', null, 'Enter the server\'s admin API key. It stays in this browser (localStorage) and is sent only to this server\'s /v1 API.'),
    h('label', { class: 'field' }, h('span', { class: 'label' }, 'API key'), input),
    h('button', { type: 'submit', class: 'primary', id: 'key-submit' }, 'Continue'), out);
  form.addEventListener('submit', async e => {
    e.preventDefault();
    setKey(input.value.trim());
    try {
      await get('/agents', { limit: 1 });
    } catch (err) {
      setKey('');
      replace(out, errorBox(err.status === 401 ? { message: 'That key was refused.' } : err));
      return;
    }
    render();
  });
  return h('div', { class: 'center' }, form);
}

document.addEventListener('click', e => {
  const a = e.target.closest('a[data-link]');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
  e.preventDefault();
  if (a.getAttribute('href') !== location.pathname) navigate(a.getAttribute('href'));
});
window.addEventListener('popstate', render);
onNavigate(render);
render();
