// Administration: users and roles, agents (extension, SIP password, skills), queues,
// dispositions, scripts (Markdown with preview), flows (YAML with the checker's problems shown
// at their lines), numbers, the tenant's settings, and for the operator (the outsourcing
// centre) its client companies.

import { h, mount, field, select, skillsText, parseSkills } from './dom.js';
import { get, post, put, patch, del } from './api.js';
import { t } from './i18n.js';
import { renderMarkdown } from './markdown.js';

const PAGES = ['users', 'agents', 'queues', 'dispositions', 'scripts', 'flows', 'numbers', 'tenant'];

export function adminView(ctx, main, rest) {
  const shown = ctx.me.tenant.operator ? [...PAGES, 'tenants'] : PAGES;
  const page = shown.includes(rest[0]) ? rest[0] : 'users';
  const body = h('div');
  mount(main, h('nav', { class: 'subnav', 'aria-label': t('nav.admin') },
    shown.map((k) => h('a', { href: `#admin/${k}`, class: k === page ? 'on' : '', 'aria-current': k === page ? 'page' : null }, t(`adm.${k}`)))), body);
  const pages = { users, agents, queues, dispositions, scripts, flows, numbers, tenant, tenants };
  pages[page](ctx, body, rest[1]);
  return null;
}

/** A list with a form beside it: `columns` render a row, `form(item|null, done)` edits or creates. */
function crud(ctx, body, { title, load, columns, form }) {
  const rows = h('tbody');
  const side = h('div', { class: 'col' });
  const refresh = async () => {
    try {
      const items = await load();
      mount(rows, items.map((it) => h('tr', { class: 'clickable', tabindex: 0, onclick: () => edit(it), onkeydown: (e) => { if (e.key === 'Enter') edit(it); } },
        columns.map(([, cell]) => h('td', {}, cell(it))))));
    } catch (e) { ctx.fail(e); }
  };
  const edit = (it) => mount(side, form(it, () => { refresh(); mount(side); }));
  mount(body, h('div', { class: 'cols' },
    h('section', { class: 'col card' }, h('div', { class: 'row' }, h('h2', {}, title), h('span', { class: 'spacer' }),
      h('button', { type: 'button', class: 'primary', onclick: () => edit(null) }, t('adm.new'))),
    h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, columns.map(([name]) => h('th', { scope: 'col' }, name)))), rows)),
    side));
  refresh();
}

/** A form that sends `collect()` and reports field errors beside the field. */
function editor(ctx, heading, controls, submit, done, extra) {
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  return h('form', {
    class: 'card edit', onsubmit: async (e) => {
      e.preventDefault();
      error.hidden = true;
      try {
        await submit();
        ctx.toast(t('saved'));
        done();
      } catch (err) {
        error.textContent = err.field ? `${err.field}: ${err.message}` : err.message;
        error.hidden = false;
      }
    },
  }, h('h3', {}, heading), controls, error, h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, t('save')), extra));
}

function users(ctx, body) {
  crud(ctx, body, {
    title: t('adm.users'),
    load: () => get('/users'),
    columns: [[t('adm.username'), (u) => u.username], [t('card.name'), (u) => u.display_name], [t('adm.role'), (u) => t(`role.${u.role}`)], [t('adm.active'), (u) => (u.active ? '✓' : '—')]],
    form: (u, done) => {
      const username = h('input', { value: u ? u.username : '', disabled: !!u, required: true, autocomplete: 'off' });
      const name = h('input', { value: u ? u.display_name : '', required: true });
      const role = select(['agent', 'supervisor', 'admin'].map((r) => [r, t(`role.${r}`)]), u ? u.role : 'agent');
      const active = h('input', { type: 'checkbox', checked: u ? u.active : true });
      const password = h('input', { type: 'password', autocomplete: 'new-password', required: !u, minlength: 8 });
      return editor(ctx, u ? u.username : t('adm.new_user'), [field(t('adm.username'), username), field(t('card.name'), name), field(t('adm.role'), role),
        h('label', { class: 'check' }, active, ` ${t('adm.active')}`), field(u ? t('adm.new_password') : t('login.password'), password)],
      () => (u
        ? patch(`/users/${u.id}`, { display_name: name.value, role: role.value, active: active.checked, ...(password.value ? { password: password.value } : {}) })
        : post('/users', { username: username.value.trim(), display_name: name.value, role: role.value, password: password.value })), done);
    },
  });
}

function agents(ctx, body) {
  let userList = [];
  crud(ctx, body, {
    title: t('adm.agents'),
    load: async () => { userList = await get('/users'); return get('/agents'); },
    columns: [[t('col.agent'), (a) => a.display_name], [t('col.ext'), (a) => a.extension], [t('col.skills'), (a) => skillsText(a.skills)], [t('adm.sip'), (a) => (a.sip_password_set ? '✓' : '—')]],
    form: (a, done) => {
      const user = select(userList.map((u) => [u.id, `${u.display_name} (${u.username})`]), a ? a.user_id : '', { disabled: !!a });
      const ext = h('input', { value: a ? a.extension : '', required: true, pattern: '[0-9]{2,8}' });
      const skills = h('input', { value: a ? skillsText(a.skills) : '' });
      const sip = h('input', { type: 'password', autocomplete: 'new-password', minlength: 8 });
      return editor(ctx, a ? a.display_name : t('adm.new_agent'), [field(t('adm.user'), user), field(t('col.ext'), ext),
        field(t('col.skills'), skills, t('adm.skills_hint')), field(t('adm.sip_password'), sip, t('adm.sip_hint'))],
      () => (a
        ? patch(`/agents/${a.id}`, { extension: ext.value, skills: parseSkills(skills.value), ...(sip.value ? { sip_password: sip.value } : {}) })
        : post('/agents', { user_id: Number(user.value), extension: ext.value, skills: parseSkills(skills.value), sip_password: sip.value || null })), done,
      a ? h('button', { type: 'button', onclick: async () => { try { await del(`/agents/${a.id}`); done(); } catch (e) { ctx.fail(e); } } }, t('adm.delete')) : null);
    },
  });
}

const CHANNELS = ['voice', 'email', 'chat', 'form'];

function queues(ctx, body) {
  crud(ctx, body, {
    title: t('adm.queues'),
    load: () => get('/queues'),
    columns: [[t('card.name'), (q) => q.name], [t('adm.channels'), (q) => q.channels.map((c) => t(`channel.${c}`)).join(', ')],
      [t('adm.sl'), (q) => `${q.service_level_target}% / ${q.service_level_seconds} s`], [t('adm.wrap'), (q) => `${q.wrap_up_seconds} s`]],
    form: (q, done) => {
      const name = h('input', { value: q ? q.name : '', required: true });
      const chans = CHANNELS.map((c) => h('input', { type: 'checkbox', value: c, checked: q ? q.channels.includes(c) : c === 'voice' }));
      const num = (v, min, max) => h('input', { type: 'number', value: v, min, max, required: true });
      const slT = num(q ? q.service_level_seconds : 20, 1, 3600);
      const slG = num(q ? q.service_level_target : 80, 1, 100);
      const prio = num(q ? q.priority : 0, -1000, 1000);
      const wrap = num(q ? q.wrap_up_seconds : 30, 0, 3600);
      const req = h('input', { type: 'checkbox', checked: q ? q.disposition_required : false });
      const collect = () => ({
        name: name.value, channels: chans.filter((c) => c.checked).map((c) => c.value), service_level_seconds: Number(slT.value),
        service_level_target: Number(slG.value), priority: Number(prio.value), wrap_up_seconds: Number(wrap.value), disposition_required: req.checked,
      });
      return editor(ctx, q ? q.name : t('adm.new_queue'), [field(t('card.name'), name),
        h('fieldset', {}, h('legend', {}, t('adm.channels')), chans.map((c) => h('label', { class: 'check' }, c, ` ${t(`channel.${c.value}`)}`))),
        field(t('adm.sl_seconds'), slT), field(t('adm.sl_target'), slG), field(t('adm.priority'), prio), field(t('adm.wrap'), wrap),
        h('label', { class: 'check' }, req, ` ${t('adm.disp_required')}`)],
      () => (q ? patch(`/queues/${q.id}`, collect()) : post('/queues', collect())), done);
    },
  });
}

function dispositions(ctx, body) {
  crud(ctx, body, {
    title: t('adm.dispositions'),
    load: () => get('/dispositions'),
    columns: [[t('adm.code'), (d) => d.code], [t('card.name'), (d) => d.name], [t('adm.active'), (d) => (d.active ? '✓' : '—')]],
    form: (d, done) => {
      const code = h('input', { value: d ? d.code : '', disabled: !!d, required: true, pattern: '[a-z0-9_]+' });
      const name = h('input', { value: d ? d.name : '', required: true });
      const active = h('input', { type: 'checkbox', checked: d ? d.active : true });
      return editor(ctx, d ? d.name : t('adm.new_disposition'), [field(t('adm.code'), code), field(t('card.name'), name), h('label', { class: 'check' }, active, ` ${t('adm.active')}`)],
        () => (d ? patch(`/dispositions/${d.id}`, { name: name.value, active: active.checked }) : post('/dispositions', { code: code.value, name: name.value, active: active.checked })), done);
    },
  });
}

function scripts(ctx, body) {
  let queueList = [];
  crud(ctx, body, {
    title: t('adm.scripts'),
    load: async () => { queueList = await get('/queues'); return get('/scripts'); },
    columns: [[t('adm.title'), (s) => s.title], [t('col.queue'), (s) => (queueList.find((q) => q.id === s.queue_id) || {}).name || t('adm.all_queues')]],
    form: (s, done) => {
      const title = h('input', { value: s ? s.title : '', required: true });
      const queue = select([['', t('adm.all_queues')], ...queueList.map((q) => [q.id, q.name])], s ? s.queue_id : '');
      const text = h('textarea', { rows: 14, class: 'code', id: 'script-source' }, s ? s.body_markdown : '');
      const preview = h('div', { class: 'preview', 'aria-live': 'polite', id: 'script-preview' });
      const draw = () => mount(preview, renderMarkdown(text.value));
      text.addEventListener('input', draw);
      draw();
      const collect = () => ({ title: title.value, queue_id: queue.value ? Number(queue.value) : null, body_markdown: text.value });
      return editor(ctx, s ? s.title : t('adm.new_script'), [field(t('adm.title'), title), field(t('col.queue'), queue),
        h('div', { class: 'split' }, field(t('adm.markdown'), text), h('div', { class: 'field' }, h('span', { class: 'label' }, t('adm.preview')), preview))],
      () => (s ? patch(`/scripts/${s.id}`, collect()) : post('/scripts', collect())), done,
      s ? h('button', { type: 'button', onclick: async () => { try { await del(`/scripts/${s.id}`); done(); } catch (e) { ctx.fail(e); } } }, t('adm.delete')) : null);
    },
  });
}

function flows(ctx, body, openName) {
  const list = h('ul', { class: 'results' });
  const side = h('div', { class: 'col' });
  const refresh = async () => {
    try {
      const items = await get('/flows');
      mount(list, items.map((f) => h('li', {}, h('button', { type: 'button', class: 'link', onclick: () => edit(f.name) }, f.name), h('span', { class: 'muted' }, ` v${f.version}`))));
    } catch (e) { ctx.fail(e); }
  };
  const edit = async (name) => {
    let source = '';
    if (name) {
      try { source = (await get(`/flows/${encodeURIComponent(name)}`)).source; } catch (e) { ctx.fail(e); return; }
    }
    const nameInput = h('input', { value: name || '', required: true, disabled: !!name, pattern: '[A-Za-z0-9_.\\-]+' });
    const gutter = h('pre', { class: 'gutter', 'aria-hidden': 'true' });
    const text = h('textarea', { rows: 24, class: 'code', id: 'flow-source', spellcheck: 'false', wrap: 'off' }, source);
    const problems = h('ul', { class: 'problems', id: 'flow-problems', 'aria-live': 'polite' });
    let bad = new Set();
    const drawGutter = () => {
      const n = text.value.split('\n').length;
      mount(gutter, Array.from({ length: n }, (_, i) => h('span', { class: bad.has(i + 1) ? 'bad' : '' }, `${i + 1}\n`)));
      gutter.scrollTop = text.scrollTop;
    };
    const goTo = (line, column) => {
      const lines = text.value.split('\n');
      const at = lines.slice(0, line - 1).reduce((s, l) => s + l.length + 1, 0) + Math.max(0, column - 1);
      text.focus();
      text.setSelectionRange(at, at);
    };
    const show = (found) => {
      bad = new Set(found.map((p) => p.line));
      mount(problems, found.length ? found.map((p) => h('li', {}, h('button', { type: 'button', class: 'link', onclick: () => goTo(p.line, p.column) }, `${t('adm.line')} ${p.line}:${p.column}`), ` ${p.message}`))
        : h('li', { class: 'ok' }, t('adm.flow_ok')));
      drawGutter();
    };
    const check = async () => {
      try {
        const r = await post('/flows/check', { source: text.value });
        show(r.problems);
        return r.valid;
      } catch (e) { ctx.fail(e); return false; }
    };
    let pending = null;
    text.addEventListener('input', () => { drawGutter(); clearTimeout(pending); pending = setTimeout(check, 600); });
    text.addEventListener('scroll', () => { gutter.scrollTop = text.scrollTop; });
    const error = h('p', { class: 'error', role: 'alert', hidden: true });
    mount(side, h('form', {
      class: 'card edit', onsubmit: async (e) => {
        e.preventDefault();
        error.hidden = true;
        try {
          await put(`/flows/${encodeURIComponent(nameInput.value.trim())}`, { source: text.value });
          ctx.toast(t('saved'));
          show([]);
          refresh();
        } catch (err) {
          if (err.problems) show(err.problems);
          error.textContent = err.message;
          error.hidden = false;
          check();
        }
      },
    }, h('h3', {}, name || t('adm.new_flow')), field(t('adm.flow_name'), nameInput),
    h('div', { class: 'editor' }, gutter, text), problems, error,
    h('div', { class: 'row' }, h('button', { type: 'button', onclick: check }, t('adm.check')), h('button', { type: 'submit', class: 'primary' }, t('save')))));
    drawGutter();
    if (source) check();
  };
  mount(body, h('div', { class: 'cols' }, h('section', { class: 'col card narrow' }, h('div', { class: 'row' }, h('h2', {}, t('adm.flows')), h('span', { class: 'spacer' }),
    h('button', { type: 'button', class: 'primary', onclick: () => edit(null) }, t('adm.new'))), list), side));
  refresh();
  if (openName) edit(openName);
}

function numbers(ctx, body) {
  crud(ctx, body, {
    title: t('adm.numbers'),
    load: () => get('/sip/numbers'),
    columns: [[t('adm.number'), (n) => n.number], [t('adm.target_kind'), (n) => n.kind], [t('adm.target'), (n) => n.target]],
    form: (n, done) => {
      const number = h('input', { value: n ? n.number : '', required: true, disabled: !!n });
      const kind = select(['flow', 'extension', 'trunk', 'service'].map((k) => [k, t(`adm.kind_${k}`)]), n ? n.kind : 'flow', { disabled: !!n });
      const target = h('input', { value: n ? n.target : '', required: true, disabled: !!n });
      return editor(ctx, n ? n.number : t('adm.new_number'), [field(t('adm.number'), number), field(t('adm.target_kind'), kind), field(t('adm.target'), target)],
        () => (n ? Promise.resolve() : post('/sip/numbers', { number: number.value.trim(), kind: kind.value, target: target.value.trim() })), done,
        n ? h('button', { type: 'button', onclick: async () => { try { await del(`/sip/numbers/${n.id}`); done(); } catch (e) { ctx.fail(e); } } }, t('adm.delete')) : null);
    },
  });
}

async function tenant(ctx, body) {
  try {
    const tn = await get('/tenant');
    const name = h('input', { value: tn.name, required: true });
    const region = h('input', { value: tn.default_region, required: true, maxlength: 2 });
    const zone = h('input', { value: tn.timezone, required: true });
    mount(body, editor(ctx, t('adm.tenant'), [h('p', { class: 'muted' }, `${t('adm.slug')}: ${tn.slug}`), field(t('card.name'), name),
      field(t('adm.region'), region), field(t('adm.timezone'), zone)],
    () => patch('/tenant', { name: name.value, default_region: region.value.toUpperCase(), timezone: zone.value }), () => {}));
  } catch (e) { ctx.fail(e); }
}

// The operator's client companies: each is a tenant of its own (numbers, queues, scripts,
// users, reports), created with its first administrator, who sets it up.
function tenants(ctx, body) {
  crud(ctx, body, {
    title: t('adm.tenants'),
    load: () => get('/tenants'),
    columns: [[t('card.name'), (x) => [x.tenant.name, x.tenant.operator ? ' ' : null, x.tenant.operator ? h('span', { class: 'chip' }, t('adm.operator')) : null]],
      [t('adm.slug'), (x) => x.tenant.slug], [t('adm.timezone'), (x) => x.tenant.timezone],
      [t('adm.users'), (x) => String(x.users)], [t('adm.agents'), (x) => String(x.agents)], [t('adm.queues'), (x) => String(x.queues)]],
    form: (x, done) => {
      const tn = x ? x.tenant : null;
      const name = h('input', { value: tn ? tn.name : '', required: true, id: 'tenant-name' });
      const slug = h('input', { value: tn ? tn.slug : '', required: true, disabled: !!tn, pattern: '[a-z0-9][a-z0-9_.\\-]*', id: 'tenant-slug' });
      const region = h('input', { value: tn ? tn.default_region : 'RU', required: true, maxlength: 2 });
      const zone = h('input', { value: tn ? tn.timezone : 'Europe/Moscow', required: true });
      const controls = [field(t('card.name'), name), field(t('adm.slug'), slug, t('adm.slug_hint')), field(t('adm.region'), region), field(t('adm.timezone'), zone)];
      if (tn) {
        return editor(ctx, tn.name, controls,
          () => patch(`/tenants/${tn.id}`, { name: name.value, default_region: region.value.toUpperCase(), timezone: zone.value }), done);
      }
      const user = h('input', { required: true, autocomplete: 'off', id: 'tenant-admin-user' });
      const display = h('input', { required: true, id: 'tenant-admin-name' });
      const password = h('input', { type: 'password', autocomplete: 'new-password', required: true, minlength: 8, id: 'tenant-admin-password' });
      return editor(ctx, t('adm.new_tenant'), [...controls, h('h4', {}, t('adm.tenant_admin')),
        field(t('adm.username'), user), field(t('card.name'), display), field(t('login.password'), password)],
      () => post('/tenants', {
        name: name.value, slug: slug.value.trim(), default_region: region.value.toUpperCase(), timezone: zone.value.trim(),
        admin: { username: user.value.trim(), display_name: display.value, password: password.value },
      }), done);
    },
  });
}
