// The first-run wizard: an agent, an environment, optionally a vault with one secret,
// then a new session's chat.
import { h, replace, busy } from '../dom.js';
import { post } from '../api.js';
import { navigate } from '../router.js';
import { agentForm, environmentForm, credentialForm } from '../forms.js';

export async function onboardingView(root) {
  const made = {};
  const steps = ['Agent', 'Environment', 'Secrets', 'Chat'];
  const header = n => h('ol', { class: 'steps' }, steps.map((s, i) => h('li', { class: i === n ? 'current' : i < n ? 'done' : null }, s)));
  const body = h('div');
  replace(root, h('h1', null, 'Welcome to Hangar'),
    h('p', { class: 'lead' }, 'Set up an agent and a sandbox to run it in, then talk to it. Everything here goes through the public API.'),
    body);

  const step = (n, title, form, actions) => {
    const out = h('div');
    const f = h('form', { class: 'card wizard', id: `wizard-step-${n}` }, header(n), h('h2', null, title), form, out, h('div', { class: 'actions' }, actions(out)));
    replace(body, f);
    f.querySelector('input, select, textarea')?.focus();
    return f;
  };

  function agentStep() {
    const form = agentForm();
    const f = step(0, 'Create an agent', form.el, out => [h('button', { type: 'submit', class: 'primary', id: 'wizard-next' }, 'Create agent')]);
    f.addEventListener('submit', async e => {
      e.preventDefault();
      const ok = await busy(e.submitter, f.lastElementChild.previousElementSibling, async () => {
        made.agent = await post('/agents', form.value());
        return true;
      });
      if (ok) envStep();
    });
  }

  function envStep() {
    const form = environmentForm();
    const f = step(1, 'Create an environment', form.el, () => [h('button', { type: 'submit', class: 'primary', id: 'wizard-next' }, 'Create environment')]);
    f.addEventListener('submit', async e => {
      e.preventDefault();
      const ok = await busy(e.submitter, f.lastElementChild.previousElementSibling, async () => {
        made.env = await post('/environments', form.value());
        return true;
      });
      if (ok) vaultStep();
    });
  }

  function vaultStep() {
    const form = credentialForm();
    const vaultName = h('input', { id: 'vault-name', value: 'default', autocomplete: 'off' });
    const el = h('div', null, h('p', null, 'Optional: keep a secret in a vault and attach it to the session. Values are write-only.'),
      h('label', { class: 'field' }, h('span', { class: 'label' }, 'Vault name'), vaultName), form.el);
    const f = step(2, 'Add a secret (optional)', el, () => [
      h('button', { type: 'button', id: 'wizard-skip', onclick: () => chatStep() }, 'Skip'),
      h('button', { type: 'submit', class: 'primary', id: 'wizard-next' }, 'Create vault and secret'),
    ]);
    f.addEventListener('submit', async e => {
      e.preventDefault();
      const ok = await busy(e.submitter, f.lastElementChild.previousElementSibling, async () => {
        const cred = form.value();
        made.vault = made.vault || await post('/vaults', { display_name: vaultName.value.trim() || 'default' });
        await post(`/vaults/${made.vault.id}/credentials`, cred);
        return true;
      });
      if (ok) chatStep();
    });
  }

  function chatStep() {
    const title = h('input', { id: 'session-title', value: 'First session', autocomplete: 'off' });
    const f = step(3, 'Start a session', h('div', null,
      h('p', null, `Agent ${made.agent.name} (${made.agent.engine}) in environment ${made.env.name}${made.vault ? ', with vault ' + made.vault.display_name : ''}.`),
      buildNote(made.env),
      h('label', { class: 'field' }, h('span', { class: 'label' }, 'Title'), title)),
    () => [h('button', { type: 'submit', class: 'primary', id: 'wizard-next' }, 'Start chatting')]);
    f.addEventListener('submit', async e => {
      e.preventDefault();
      const session = await busy(e.submitter, f.lastElementChild.previousElementSibling, () => post('/sessions', {
        agent: made.agent.id, environment_id: made.env.id, title: title.value.trim() || null, vault_ids: made.vault ? [made.vault.id] : [],
      }));
      if (session) navigate(`/sessions/${session.id}`);
    });
  }

  agentStep();
}

// buildNote tells what a session will meet when the environment installs packages.
function buildNote(env) {
  if (env.state === 'preparing') return h('p', { class: 'hint' }, 'The environment is installing its packages; the first turn waits for the build.');
  if (env.state === 'failed') return h('p', { class: 'error' }, `The environment's build failed: ${env.state_message || 'see its build log'}.`);
  return null;
}
