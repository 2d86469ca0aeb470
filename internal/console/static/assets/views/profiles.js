// User profiles (docs/user-profiles.md): the end customers an application serves. The list,
// create, and each profile's details, trust grants, enrollment link (one hour) and delete.
import { h, replace, link, fmtTime, json, field, busy } from '../dom.js';
import { get, post, del, listAll } from '../api.js';
import { navigate } from '../router.js';

const enrollment = p => p.trust_grants?.end_user_enrollment?.status || 'not enrolled';
const enrollBadge = p => h('span', { class: 'badge profile-enrollment', dataset: { status: enrollment(p) === 'active' ? 'ready' : 'pending' } }, enrollment(p));

export async function profilesView(root) {
  const profiles = await listAll('/user_profiles', { limit: 100 }, 1000);
  const name = h('input', { id: 'profile-name', placeholder: 'Acme Corp', autocomplete: 'off' });
  const ref = h('input', { id: 'profile-reference', placeholder: 'your ID for this customer (optional)', autocomplete: 'off' });
  const access = h('select', { id: 'profile-access' },
    h('option', { value: 'application' }, 'application (an individual user)'),
    h('option', { value: 'passthrough' }, 'passthrough (a company you resell access to)'));
  const out = h('div');
  const btn = h('button', { type: 'submit', class: 'primary', id: 'profile-save' }, 'Create profile');
  const form = h('form', { class: 'card', id: 'profile-form' }, field('Name', name), field('Reference ID', ref), field('Access type', access),
    out, h('div', { class: 'actions' }, btn));
  form.addEventListener('submit', async e => {
    e.preventDefault();
    const body = { access_type: access.value };
    if (name.value.trim()) body.name = name.value.trim();
    if (ref.value.trim()) body.external_user_details = { reference_id: ref.value.trim() };
    const p = await busy(btn, out, () => post('/user_profiles', body));
    if (p) navigate(`/profiles/${p.id}`);
  });
  replace(root, h('h1', null, 'User profiles'),
    h('p', { class: 'sub' }, 'The end customers your application serves; each can enroll through a signed link this server hosts.'),
    profiles.length ? h('table', { class: 'list', id: 'profiles-table' },
      h('thead', null, h('tr', null, ['Name', 'Access', 'Enrollment', 'Created'].map(c => h('th', null, c)))),
      h('tbody', null, profiles.map(p => h('tr', { dataset: { id: p.id } },
        h('td', null, link(`/profiles/${p.id}`, p.name || p.id)), h('td', null, p.access_type),
        h('td', null, enrollBadge(p)), h('td', null, fmtTime(p.created_at))))))
      : h('p', { class: 'empty' }, 'No user profiles yet.'),
    h('details', { class: 'create', open: !profiles.length }, h('summary', null, 'New profile'), form));
}

export async function profileView(root, { id }) {
  const p = await get(`/user_profiles/${id}`);
  const out = h('div');
  const urlSlot = h('div', { id: 'profile-url-slot' });
  const enroll = h('button', { type: 'button', class: 'primary', id: 'profile-enroll-url' }, 'Enrollment link');
  enroll.addEventListener('click', async () => {
    const res = await busy(enroll, out, () => post(`/user_profiles/${id}/enrollment_url`));
    if (!res) return;
    replace(urlSlot, h('div', { class: 'card key-box', id: 'profile-url-box' },
      h('div', { class: 'label' }, `Send this link to the customer; it works until ${fmtTime(res.expires_at)}:`),
      h('pre', { id: 'profile-url', class: 'mono' }, res.url)));
  });
  const remove = h('button', { type: 'button', class: 'danger', id: 'profile-delete' }, 'Delete');
  remove.addEventListener('click', async () => {
    if (!confirm(`Delete profile ${p.name || id}?`)) return;
    if (await busy(remove, out, () => del(`/user_profiles/${id}`))) navigate('/profiles');
  });
  const d = p.external_user_details || {};
  replace(root, h('div', { class: 'page-head' }, h('h1', null, p.name || p.id), enrollBadge(p)),
    h('p', { class: 'sub' }, `${p.id} · created ${fmtTime(p.created_at)} · updated ${fmtTime(p.updated_at)}`),
    h('dl', { class: 'facts' },
      h('dt', null, 'Access type'), h('dd', null, p.access_type),
      h('dt', null, 'Reference ID'), h('dd', null, d.reference_id || '—'),
      h('dt', null, 'Account status'), h('dd', null, d.account_status || '—'),
      h('dt', null, 'Country'), h('dd', null, d.country || '—'),
      h('dt', null, 'Enrollment'), h('dd', { id: 'profile-enrollment' }, enrollment(p))),
    urlSlot, out, h('div', { class: 'actions' }, remove, enroll),
    h('details', null, h('summary', null, 'Raw'), h('pre', null, json(p))));
}
