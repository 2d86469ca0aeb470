// Tunnels (docs/tunnels.md): private networks reached through a `hangar tunnel` connector.
// The list, create, and each tunnel's domain, connector token (revealed on demand, rotated
// after a confirmation), CA certificates (add a PEM, archive) and archive.
import { h, replace, link, fmtTime, field, busy, errorBox } from '../dom.js';
import { get, post, listAll } from '../api.js';
import { navigate } from '../router.js';

const state = x => h('span', { class: 'badge', dataset: { status: x.archived_at ? 'archived' : 'ready' } }, x.archived_at ? 'archived' : 'live');

export async function tunnelsView(root) {
  const tunnels = await listAll('/tunnels', { limit: 100, include_archived: 'true' }, 1000);
  const name = h('input', { id: 'tunnel-name', placeholder: 'office LAN', autocomplete: 'off' });
  const out = h('div');
  const btn = h('button', { type: 'submit', class: 'primary', id: 'tunnel-save' }, 'Create tunnel');
  const form = h('form', { class: 'card', id: 'tunnel-form' }, field('Display name (optional)', name), out, h('div', { class: 'actions' }, btn));
  form.addEventListener('submit', async e => {
    e.preventDefault();
    const t = await busy(btn, out, () => post('/tunnels', name.value.trim() ? { display_name: name.value.trim() } : {}));
    if (t) navigate(`/tunnels/${t.id}`);
  });
  replace(root, h('h1', null, 'Tunnels'),
    h('p', { class: 'sub' }, 'MCP servers on a private network, reached through a connector (hangar tunnel) that connects out to this server.'),
    tunnels.length ? h('table', { class: 'list', id: 'tunnels-table' },
      h('thead', null, h('tr', null, ['Name', 'Domain', 'State', 'Created'].map(c => h('th', null, c)))),
      h('tbody', null, tunnels.map(t => h('tr', { dataset: { id: t.id }, class: t.archived_at ? 'archived' : null },
        h('td', null, link(`/tunnels/${t.id}`, t.display_name || t.id)), h('td', { class: 'mono' }, t.domain),
        h('td', null, state(t)), h('td', null, fmtTime(t.created_at))))))
      : h('p', { class: 'empty' }, 'No tunnels yet.'),
    h('details', { class: 'create', open: !tunnels.length }, h('summary', null, 'New tunnel'), form));
}

export async function tunnelView(root, { id }) {
  const [t, certs] = await Promise.all([get(`/tunnels/${id}`), listAll(`/tunnels/${id}/certificates`, { limit: 100, include_archived: 'true' }, 1000)]);
  const live = !t.archived_at;
  const out = h('div');
  const tokenSlot = h('div', { id: 'tunnel-token-slot' });
  const showToken = token => replace(tokenSlot, h('div', { class: 'card key-box', id: 'tunnel-token-box' },
    h('div', { class: 'label' }, 'Connector token'), h('pre', { id: 'tunnel-token', class: 'mono' }, token),
    h('div', { class: 'label' }, 'Run the connector inside the private network:'),
    h('pre', { id: 'tunnel-cmd', class: 'mono' }, `hangar tunnel --url ${location.origin} --tunnel ${id} --token ${token} --gateway HOST:443`)));
  const reveal = h('button', { type: 'button', id: 'tunnel-reveal', disabled: !live }, 'Reveal token');
  reveal.addEventListener('click', async () => {
    const res = await busy(reveal, out, () => post(`/tunnels/${id}/reveal_token`));
    if (res) showToken(res.tunnel_token);
  });
  const rotate = h('button', { type: 'button', id: 'tunnel-rotate', disabled: !live }, 'Rotate token');
  rotate.addEventListener('click', async () => {
    if (!confirm('Rotate the token? New connector connections need the new one; open ones keep working.')) return;
    const res = await busy(rotate, out, () => post(`/tunnels/${id}/rotate_token`, { reason: 'rotated in the console' }));
    if (res) showToken(res.tunnel_token);
  });
  const archive = h('button', { type: 'button', class: 'danger', id: 'tunnel-archive', disabled: !live }, 'Archive');
  archive.addEventListener('click', async () => {
    if (!confirm(`Archive ${t.display_name || id}? This cannot be undone: its token stops working and its domain is retired.`)) return;
    if (await busy(archive, out, () => post(`/tunnels/${id}/archive`))) navigate(`/tunnels/${id}`, { replace: true });
  });

  const pem = h('textarea', { id: 'cert-pem', rows: 6, class: 'mono', placeholder: '-----BEGIN CERTIFICATE-----' });
  const certOut = h('div');
  const add = h('button', { type: 'submit', class: 'primary', id: 'cert-save', disabled: !live }, 'Add CA certificate');
  const certForm = h('form', { class: 'card', id: 'cert-form' },
    field('CA certificate (PEM)', pem, 'The CA that issued your gateway\'s certificate; at most two live ones.'), certOut, h('div', { class: 'actions' }, add));
  certForm.addEventListener('submit', async e => {
    e.preventDefault();
    if (await busy(add, certOut, () => post(`/tunnels/${id}/certificates`, { ca_certificate_pem: pem.value }))) navigate(`/tunnels/${id}`, { replace: true });
  });
  const archiveCert = c => async e => {
    const btn = e.currentTarget;
    if (!confirm(`Archive certificate ${c.fingerprint.slice(0, 16)}…?`)) return;
    if (await busy(btn, certOut, () => post(`/tunnels/${id}/certificates/${c.id}/archive`))) navigate(`/tunnels/${id}`, { replace: true });
  };
  const liveCerts = certs.filter(c => !c.archived_at).length;

  replace(root, h('div', { class: 'page-head' }, h('h1', null, t.display_name || t.id), state(t)),
    h('p', { class: 'sub' }, `${t.id} · created ${fmtTime(t.created_at)}`),
    h('dl', { class: 'facts' }, h('dt', null, 'Domain'), h('dd', { class: 'mono', id: 'tunnel-domain' }, t.domain),
      h('dt', null, 'MCP URLs'), h('dd', null, `https://<name>.${t.domain}/… (a name under the domain)`)),
    live && !liveCerts ? errorBox({ message: 'No live CA certificate: the tunnel carries no traffic until you add one.' }) : null,
    tokenSlot, out, h('div', { class: 'actions' }, reveal, rotate, archive),
    h('h2', null, 'CA certificates'),
    certs.length ? h('table', { class: 'list', id: 'certs-table' },
      h('thead', null, h('tr', null, ['Fingerprint (SHA-256)', 'Expires', 'Added', ''].map(c => h('th', null, c)))),
      h('tbody', null, certs.map(c => h('tr', { dataset: { id: c.id }, class: c.archived_at ? 'archived' : null },
        h('td', { class: 'mono' }, c.fingerprint), h('td', null, fmtTime(c.expires_at)), h('td', null, fmtTime(c.created_at)),
        h('td', { class: 'row-actions' }, c.archived_at ? 'archived'
          : h('button', { type: 'button', class: 'link cert-archive', onclick: archiveCert(c) }, 'Archive'))))))
      : h('p', { class: 'empty' }, 'No certificates yet.'),
    live ? certForm : null);
}
