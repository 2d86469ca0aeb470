// Forms shared by the onboarding wizard and the resource pages. Each returns
// {el, value()} where value() builds the API request body (and throws on bad input).
import { h, field, words } from './dom.js';
import { get, listAll } from './api.js';

export const ENGINES = {
  claude: { model: 'claude-sonnet-4-6', label: 'Claude Code' },
  codex: { model: 'gpt-5-codex', label: 'Codex CLI' },
  gemini: { model: 'gemini-2.5-pro', label: 'Gemini CLI' },
  opencode: { model: 'anthropic/claude-sonnet-4-6', label: 'opencode' },
  factory: { model: 'claude-sonnet-4-6', label: 'Factory droid' },
  pi: { model: 'claude-sonnet-4-6', label: 'pi coding agent' },
  anthropic: { model: 'claude-sonnet-4-6', label: 'hosted Claude Managed Agents' },
  native: { model: 'claude-sonnet-4-6', label: 'Hangar\'s own agent loop (native; runs self-hosted sessions)' },
  scripted: { model: 'claude-sonnet-4-6', label: 'Scripted (no model; for tests and demos)' },
};

export const MODELS = ['claude-opus-4-8', 'claude-sonnet-4-6', 'claude-haiku-4-5', 'gpt-5-codex', 'gemini-2.5-pro'];

export const TOOLS = ['bash', 'read', 'write', 'edit', 'glob', 'grep', 'web_fetch', 'web_search'];

export const PROVIDERS = ['local', 'memory'];

const select = (id, options, value) =>
  h('select', { id }, Object.entries(options).map(([v, label]) => h('option', { value: v, selected: v === value }, label)));

function parseJSON(text, what) {
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${what}: ${err.message}`);
  }
}

// agentForm edits name, engine, model, system prompt and tools. With an existing agent
// (edit = a new version) the tools are edited as JSON, since they may hold more than
// the toggles show.
export function agentForm(agent) {
  const name = h('input', { id: 'agent-name', required: true, value: agent?.name || 'my-agent', autocomplete: 'off' });
  // A free field with suggestions: a server may register engines this page does not know.
  const engine = h('input', { id: 'agent-engine', list: 'engines', required: true, value: agent?.engine || 'claude', autocomplete: 'off' });
  const engines = h('datalist', { id: 'engines' }, Object.entries(ENGINES).map(([k, v]) => h('option', { value: k }, v.label)));
  const model = h('input', { id: 'agent-model', list: 'models', required: true, value: agent?.model?.id || ENGINES.claude.model });
  const models = h('datalist', { id: 'models' }, MODELS.map(m => h('option', { value: m })));
  const system = h('textarea', { id: 'agent-system', rows: 4, value: agent?.system || '', placeholder: 'You are a careful engineer…' });
  let touchedModel = !!agent;
  model.addEventListener('input', () => { touchedModel = true; });
  engine.addEventListener('change', () => { if (!touchedModel) model.value = ENGINES[engine.value]?.model || model.value; });
  const parts = [field('Name', name), field('Engine', engine, 'The agent CLI that runs the turns: ' + Object.keys(ENGINES).join(', ') + '.'), engines,
    field('Model', model), models,
    field('System prompt', system)];
  const roster = rosterEditor(agent);
  let tools;
  if (agent) {
    const toolsJSON = h('textarea', { id: 'agent-tools', rows: 8, class: 'mono', value: JSON.stringify(agent.tools || [], null, 2) });
    const meta = h('textarea', { id: 'agent-metadata', rows: 3, class: 'mono', value: JSON.stringify(agent.metadata || {}, null, 2) });
    parts.push(field('Tools (JSON)', toolsJSON), field('Metadata (JSON)', meta));
    tools = () => ({ tools: parseJSON(toolsJSON.value, 'tools') ?? [], metadata: parseJSON(meta.value, 'metadata') ?? {} });
  } else {
    const toolset = h('input', { type: 'checkbox', id: 'tool-toolset', checked: true });
    const policy = select('tool-policy', { always_allow: 'always allow', always_ask: 'always ask (confirm each call in the chat)' }, 'always_allow');
    const boxes = TOOLS.map(t => h('input', { type: 'checkbox', id: `tool-${t}`, checked: true, value: t }));
    const customName = h('input', { id: 'custom-tool-name', placeholder: 'get_weather', autocomplete: 'off' });
    const customDesc = h('input', { id: 'custom-tool-description', placeholder: 'Current weather for a city' });
    parts.push(h('fieldset', { class: 'tools' }, h('legend', null, 'Tools'),
      h('label', { class: 'check' }, toolset, ' Built-in toolset'),
      h('div', { class: 'toggles' }, boxes.map(b => h('label', { class: 'check' }, b, ' ', b.value))),
      field('Permission policy', policy),
      h('details', null, h('summary', null, 'Custom tool (answered by you in the chat)'),
        field('Name', customName), field('Description', customDesc))));
    tools = () => {
      const out = [];
      if (toolset.checked) {
        const off = boxes.filter(b => !b.checked).map(b => ({ name: b.value, enabled: false }));
        out.push({ type: 'agent_toolset_20260401', default_config: { enabled: true, permission_policy: { type: policy.value } }, configs: off });
      }
      if (customName.value.trim()) {
        out.push({ type: 'custom', name: customName.value.trim(), description: customDesc.value.trim() || customName.value.trim(),
          input_schema: { type: 'object', properties: {} } });
      }
      return { tools: out };
    };
  }
  parts.push(roster.el);
  return {
    el: h('div', { class: 'form-body' }, parts),
    value() {
      const body = { name: name.value.trim(), engine: engine.value.trim(), model: model.value.trim(), ...tools(), ...roster.value() };
      body.system = system.value.trim() ? system.value : null;
      return body;
    },
  };
}

// rosterEditor makes the agent a multiagent coordinator (docs/threads.md): one box per other
// agent (not archived, not a coordinator itself) and one for `self`. The roster is sent only
// when the boxes were changed, so an edit does not re-pin the roster's agent versions.
function rosterEditor(agent) {
  const ma = agent?.multiagent;
  const current = new Set((ma?.type === 'coordinator' ? ma.agents || [] : [])
    .map(e => typeof e === 'string' ? e : e.type === 'self' ? 'self' : e.id));
  const hint = h('small', { class: 'hint' }, 'Loading agents…');
  const boxes = h('div', { class: 'toggles', id: 'agent-roster-agents' });
  const el = h('details', { class: 'roster', id: 'agent-roster', open: current.size > 0 },
    h('summary', null, 'Multiagent: coordinate other agents'),
    h('p', { class: 'hint' }, 'The agent gets a delegate_to_<name> tool per checked agent; each runs in its own thread of the session. Its engine needs custom tools (claude, pi, scripted, anthropic…).'),
    boxes, hint);
  let touched = false;
  boxes.addEventListener('change', () => { touched = true; });
  if (ma && ma.type !== 'coordinator') {
    hint.textContent = `This agent uses the ${ma.type} form; edit it through the API.`;
    return { el, value: () => ({}) };
  }
  listAll('/agents', { limit: 100 }, 1000).then(list => {
    const others = list.filter(a => a.id !== agent?.id && !a.archived_at && !a.multiagent);
    const box = (value, label) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', value, checked: current.has(value), dataset: { roster: value } }), ' ', label);
    boxes.replaceChildren(...others.map(a => box(a.id, a.name)), box('self', 'self (this agent, without its roster)'));
    hint.textContent = others.length ? '' : 'No other agents yet: create the agents to delegate to first.';
    el.dataset.loaded = '';
  }).catch(err => { hint.textContent = `Could not list agents: ${err.message}`; });
  return {
    el,
    value() {
      if (!touched) return {};
      const picked = [...boxes.querySelectorAll('input:checked')].map(b => b.value === 'self' ? { type: 'self' } : b.value);
      return { multiagent: picked.length ? { type: 'coordinator', agents: picked } : null };
    },
  };
}

// environmentForm edits an environment's provider, packages and networking. The provider
// select is filled from GET /v1/providers once it answers: providers this server cannot
// use now are listed but disabled, with the reason as their tooltip and in the hint, and
// the server's default is preselected. The select carries data-loaded when filled.
// withType offers the environment type: a self_hosted one (docs/self-hosted.md) has no
// provider, packages or networking; its tools run on your `hangar worker`.
export function environmentForm({ withType = false } = {}) {
  const name = h('input', { id: 'env-name', required: true, value: 'dev', autocomplete: 'off' });
  const type = select('env-type', { cloud: 'cloud (a Hangar sandbox)', self_hosted: 'self-hosted (tools run on your worker)' }, 'cloud');
  const typeField = field('Type', type, 'A self-hosted environment\'s key is shown once, when it is created.');
  typeField.hidden = !withType;
  const cloudFields = h('div', { class: 'cloud-fields' });
  const provider = h('select', { id: 'env-provider' }, h('option', { value: '' }, 'server default'));
  const hint = h('small', { class: 'hint', id: 'env-provider-hint' }, 'Loading the server\'s providers…');
  fillProviders(provider, hint);
  const pkgs = Object.fromEntries(['apt', 'pip', 'npm'].map(m => [m, h('input', { id: `env-${m}`, placeholder: m === 'pip' ? 'pandas==2.2.0 requests' : '' })]));
  const net = select('env-networking', { unrestricted: 'unrestricted', limited: 'limited to listed hosts' }, 'unrestricted');
  const hosts = h('input', { id: 'env-hosts', placeholder: 'api.github.com pypi.org' });
  const hostsField = field('Allowed hosts', hosts);
  hostsField.hidden = true;
  net.addEventListener('change', () => { hostsField.hidden = net.value !== 'limited'; });
  type.addEventListener('change', () => { cloudFields.hidden = type.value !== 'cloud'; });
  cloudFields.append(
    h('label', { class: 'field' }, h('span', { class: 'label' }, 'Sandbox provider'), provider, hint),
    h('fieldset', null, h('legend', null, 'Packages'), Object.entries(pkgs).map(([m, el]) => field(m, el)),
      h('small', { class: 'hint' }, 'Installed once, in the background, by providers that can build (local); the environment shows its build state and log.')),
    field('Networking', net), hostsField);
  return {
    el: h('div', { class: 'form-body' }, field('Name', name), typeField, cloudFields),
    value() {
      if (type.value === 'self_hosted') return { name: name.value.trim(), config: { type: 'self_hosted' } };
      const networking = net.value === 'limited'
        ? { type: 'limited', allowed_hosts: words(hosts.value), allow_package_managers: true, allow_mcp_servers: false }
        : { type: 'unrestricted' };
      const packages = { type: 'packages', ...Object.fromEntries(Object.entries(pkgs).map(([m, el]) => [m, words(el.value)])) };
      const config = { type: 'cloud', networking, packages };
      if (provider.value) config.provider = provider.value;
      return { name: name.value.trim(), config };
    },
  };
}

const CAPABILITIES = { isolated: 'isolated', network: 'enforces limited networking', recover: 'survives restarts', files: 'files' };

// fillProviders lists the server's providers in sel. Without the list (an older server,
// a network error) it offers PROVIDERS and lets the server decide.
async function fillProviders(sel, hint) {
  let list;
  try {
    list = (await get('/providers')).data;
  } catch {
    list = PROVIDERS.map(name => ({ name, available: true, default: name === PROVIDERS[0] }));
  }
  const describe = p => {
    if (!p) return 'The server picks its default provider.';
    if (!p.available) return `${p.name} is unavailable: ${p.reason || 'no reason given'}`;
    const caps = Object.entries(CAPABILITIES).filter(([k]) => p.capabilities?.[k]).map(([, v]) => v);
    return `${p.name}${p.default ? ' (server default)' : ''}${caps.length ? ': ' + caps.join(', ') : ''}.`;
  };
  const pick = list.find(p => p.default && p.available) || list.find(p => p.available);
  sel.replaceChildren(...list.map(p => h('option', {
    value: p.name, disabled: !p.available, title: p.available ? null : p.reason || 'unavailable',
    selected: p === pick, dataset: p.default ? { default: '' } : null,
  }, p.name, p.default ? ' (default)' : '', p.available ? '' : ' — unavailable')));
  if (!list.length) sel.append(h('option', { value: '' }, 'server default'));
  const unavailable = list.filter(p => !p.available).map(p => `${p.name}: ${p.reason || 'unavailable'}`);
  const update = () => {
    const p = list.find(x => x.name === sel.value);
    hint.replaceChildren(describe(p), unavailable.length ? ` Unavailable here — ${unavailable.join('; ')}.` : '');
  };
  sel.addEventListener('change', update);
  update();
  sel.dataset.loaded = '';
}

// credentialForm collects one secret. The value is write-only: the API never returns it.
export function credentialForm() {
  const display = h('input', { id: 'cred-name', value: 'api-token', autocomplete: 'off' });
  const kind = select('cred-type', { environment_variable: 'environment variable', static_bearer: 'bearer token for an MCP server' }, 'environment_variable');
  const secretName = h('input', { id: 'cred-secret-name', value: 'API_TOKEN', autocomplete: 'off' });
  const url = h('input', { id: 'cred-url', placeholder: 'https://mcp.example.com/mcp' });
  const value = h('input', { id: 'cred-value', type: 'password', autocomplete: 'new-password' });
  const hosts = h('input', { id: 'cred-hosts', placeholder: 'api.example.com (empty: any host)' });
  const envFields = h('div', null, field('Variable name', secretName), field('Hosts it may be sent to', hosts));
  const urlField = field('MCP server URL', url);
  urlField.hidden = true;
  kind.addEventListener('change', () => {
    envFields.hidden = kind.value !== 'environment_variable';
    urlField.hidden = kind.value !== 'static_bearer';
  });
  return {
    el: h('div', { class: 'form-body' }, field('Display name', display), field('Type', kind), envFields, urlField,
      field('Secret value', value, 'Write-only: stored encrypted, never shown again.')),
    value() {
      if (!value.value) throw new Error('secret value: required');
      let auth;
      if (kind.value === 'static_bearer') auth = { type: 'static_bearer', mcp_server_url: url.value.trim(), token: value.value };
      else {
        auth = { type: 'environment_variable', secret_name: secretName.value.trim(), secret_value: value.value };
        const list = words(hosts.value);
        auth.networking = list.length ? { type: 'limited', allowed_hosts: list } : { type: 'unrestricted' };
      }
      return { display_name: display.value.trim(), auth };
    },
  };
}
