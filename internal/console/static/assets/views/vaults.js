// Vaults and their credentials. Secret values are write-only: the form sends them, the
// API never returns them, and the page never shows them again.
import { h, replace, link, fmtTime, busy } from '../dom.js';
import { get, post, del, listAll } from '../api.js';
import { navigate } from '../router.js';
import { credentialForm } from '../forms.js';

export async function vaultsView(root) {
  const vaults = await listAll('/vaults', { limit: 100 });
  const name = h('input', { id: 'vault-name', placeholder: 'Vault name', required: true });
  const out = h('div');
  const btn = h('button', { type: 'submit', class: 'primary', id: 'vault-save' }, 'Create vault');
  const f = h('form', { class: 'inline-form' }, name, btn, out);
  f.addEventListener('submit', async e => {
    e.preventDefault();
    const v = await busy(btn, out, () => post('/vaults', { display_name: name.value.trim() }));
    if (v) navigate(`/vaults/${v.id}`);
  });
  replace(root, h('h1', null, 'Vaults'), f,
    vaults.length ? h('table', { class: 'list', id: 'vaults-table' },
      h('thead', null, h('tr', null, ['Vault', 'ID', 'Created'].map(c => h('th', null, c)))),
      h('tbody', null, vaults.map(v => h('tr', { dataset: { id: v.id } },
        h('td', null, link(`/vaults/${v.id}`, v.display_name)), h('td', { class: 'mono' }, v.id), h('td', null, fmtTime(v.created_at))))))
      : h('p', { class: 'empty' }, 'No vaults yet.'));
}

export async function vaultView(root, { id }) {
  const [vault, creds] = await Promise.all([get(`/vaults/${id}`), listAll(`/vaults/${id}/credentials`, { limit: 100 })]);
  const form = credentialForm();
  const out = h('div');
  const btn = h('button', { type: 'submit', class: 'primary', id: 'cred-save' }, 'Add credential');
  const f = h('form', { class: 'card' }, form.el, out, h('div', { class: 'actions' }, btn));
  f.addEventListener('submit', async e => {
    e.preventDefault();
    if (await busy(btn, out, () => post(`/vaults/${id}/credentials`, form.value()))) navigate(`/vaults/${id}`, { replace: true });
  });
  const rowOut = h('div');
  const describe = a => a.type === 'environment_variable' ? `$${a.secret_name}${a.networking?.allowed_hosts?.length ? ' → ' + a.networking.allowed_hosts.join(', ') : ''}`
    : a.mcp_server_url || '';
  replace(root, h('div', { class: 'page-head' }, h('h1', null, vault.display_name),
    h('button', { type: 'button', class: 'danger', id: 'vault-delete', onclick: async e => {
      if (confirm(`Delete vault ${vault.display_name} and its credentials?`) && await busy(e.currentTarget, rowOut, () => del(`/vaults/${id}`))) navigate('/vaults');
    } }, 'Delete vault')),
  h('p', { class: 'sub' }, `${vault.id} · created ${fmtTime(vault.created_at)}`), rowOut,
  creds.length ? h('table', { class: 'list', id: 'credentials-table' },
    h('thead', null, h('tr', null, ['Credential', 'Type', 'Injects', 'Value', ''].map(c => h('th', null, c)))),
    h('tbody', null, creds.map(c => h('tr', { dataset: { id: c.id } },
      h('td', null, c.display_name), h('td', null, c.auth?.type), h('td', { class: 'mono' }, describe(c.auth || {})),
      h('td', null, h('span', { class: 'secret' }, '•••••• write-only')),
      h('td', null, h('button', { type: 'button', class: 'link', onclick: async e => {
        if (confirm(`Delete credential ${c.display_name}?`) && await busy(e.currentTarget, rowOut, () => del(`/vaults/${id}/credentials/${c.id}`))) navigate(`/vaults/${id}`, { replace: true });
      } }, 'Delete'))))))
    : h('p', { class: 'empty' }, 'No credentials in this vault.'),
  h('h2', null, 'Add a credential'), f);
}
