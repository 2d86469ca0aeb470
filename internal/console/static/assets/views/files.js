// Files: upload, list, download (fetched with the key, then saved), delete.
import { h, replace, fmtTime, fmtNum, busy, errorBox } from '../dom.js';
import { get, post, del, download } from '../api.js';

export async function filesView(root) {
  const input = h('input', { type: 'file', id: 'file-input', multiple: true });
  const out = h('div');
  const btn = h('button', { type: 'submit', class: 'primary', id: 'file-upload' }, 'Upload');
  const f = h('form', { class: 'inline-form' }, input, btn, out);
  const table = h('div');
  f.addEventListener('submit', async e => {
    e.preventDefault();
    await busy(btn, out, async () => {
      for (const file of input.files) {
        const body = new FormData();
        body.append('file', file, file.name);
        await post('/files', body);
      }
      input.value = '';
      await load();
    });
  });
  replace(root, h('h1', null, 'Files'), f, table);

  async function load() {
    const files = await get('/files', { limit: 100 });
    if (!files.data.length) {
      replace(table, h('p', { class: 'empty' }, 'No files yet.'));
      return;
    }
    replace(table, h('table', { class: 'list', id: 'files-table' },
      h('thead', null, h('tr', null, ['File', 'Type', 'Size', 'Uploaded', ''].map(c => h('th', null, c)))),
      h('tbody', null, files.data.map(file => h('tr', { dataset: { id: file.id } },
        h('td', null, file.filename, h('div', { class: 'mono sub' }, file.id)), h('td', null, file.mime_type),
        h('td', { class: 'num' }, `${fmtNum(file.size_bytes)} B`), h('td', null, fmtTime(file.created_at)),
        h('td', { class: 'row-actions' },
          file.downloadable ? h('button', { type: 'button', class: 'link file-download', onclick: () => download(file.id, file.filename).catch(err => out.replaceChildren(errorBox(err))) }, 'Download') : '',
          h('button', { type: 'button', class: 'link file-delete', onclick: async e => {
            if (confirm(`Delete ${file.filename}?`) && await busy(e.currentTarget, out, () => del(`/files/${file.id}`))) await load();
          } }, 'Delete')))))));
  }
  await load();
}
