// The agent's workplace: the state bar (always visible), contacts as tabs (the screen pop with
// the customer card, the IVR trace, the queue's script and the cross-channel timeline; notes and
// disposition; card editing; transfer; click-to-call), and a search tab.
// Open tabs and everything typed are kept in the browser, so a reload or a lost connection
// loses nothing.

import { h, mount, duration, when, field, select, keep, two } from './dom.js';
import { get, post, put, patch, del, qs } from './api.js';
import { t, lang } from './i18n.js';
import { renderMarkdown } from './markdown.js';

const REASONS = ['break', 'lunch', 'training', 'meeting', 'other'];
// IVR steps worth an agent's attention; the rest (prompts played, branches) are left out.
const IVR_SHOWN = new Set(['menu_choice', 'menu_invalid', 'no_input', 'menu_failed', 'collected', 'collect_invalid',
  'collect_failed', 'lookup_found', 'lookup_not_found', 'lookup_error', 'lookup_timeout', 'queued', 'callback_key',
  'callback_requested', 'queue_max_wait', 'queue_rejected', 'transferred', 'voicemail']);

export function deskView(ctx, main) {
  const agent = ctx.me.agent;
  const tabsKey = `hotline.desk.${agent.id}.tabs`;
  const activeKey = `hotline.desk.${agent.id}.active`;
  const draftKey = (id) => `hotline.draft.${id}`;
  /** @type {{key: string, kind: 'contact'|'customer', id: number, pop?: object, status?: string}[]} */
  let tabs = keep.get(tabsKey, []);
  let active = keep.get(activeKey, 'search');
  let routingState = null; // the agent as routing sees them, and when it was read
  let wrapUp = keep.get(`hotline.desk.${agent.id}.wrap`, null); // {interaction_id, queue_id}
  const cache = { dispositions: null, agents: null, queues: null, scripts: new Map() };
  let callbacks = null; // my callbacks still to be made, earliest first
  let timer = null;

  const saveTabs = () => { keep.set(tabsKey, tabs); keep.set(activeKey, active); };

  const stateBar = h('section', { class: 'statebar', 'aria-label': t('desk.state') });
  const tabBar = h('div', { class: 'tabs', role: 'tablist', 'aria-label': t('desk.contacts') });
  const panel = h('section', { class: 'tabpanel', role: 'tabpanel' });
  mount(main, stateBar, tabBar, panel);

  // ---- state bar ------------------------------------------------------------------------
  async function loadState() {
    try {
      routingState = { ...(await get(`/agents/${agent.id}/state`)), read: Date.now() };
    } catch (e) {
      routingState = null;
      if (e.code !== 'routing_unavailable') ctx.fail(e);
    }
    renderState();
  }

  async function setPresence(presence, reason) {
    try {
      await put(`/agents/${agent.id}/presence`, { presence, reason });
      await loadState();
    } catch (e) { ctx.fail(e); }
  }

  async function finishWrapUp() {
    if (!wrapUp) return;
    try {
      await post(`/agents/${agent.id}/wrap-up`, { interaction_id: wrapUp.interaction_id, action: 'done' });
      wrapUp = null;
      keep.drop(`hotline.desk.${agent.id}.wrap`);
      await loadState();
    } catch (e) { ctx.fail(e); }
  }

  async function extendWrapUp() {
    if (!wrapUp) return;
    try {
      await post(`/agents/${agent.id}/wrap-up`, { interaction_id: wrapUp.interaction_id, action: 'extend', seconds: 30 });
      wrapUp.extra = (wrapUp.extra || 0) + 30;
      keep.set(`hotline.desk.${agent.id}.wrap`, wrapUp);
      renderState();
    } catch (e) { ctx.fail(e); }
  }

  function wrapLeft() {
    if (!routingState || routingState.state !== 'wrap_up' || !wrapUp) return null;
    const q = (cache.queues || []).find((x) => x.id === wrapUp.queue_id);
    if (!q) return null;
    const inState = routingState.seconds_in_state + (Date.now() - routingState.read) / 1000;
    return q.wrap_up_seconds + (wrapUp.extra || 0) - inState;
  }

  // Built once; the one-second tick only changes text, so an open menu is never rebuilt.
  const reasonSelect = h('select', { id: 'nr-reason', 'aria-label': t('desk.reason') },
    REASONS.map((r) => h('option', { value: r }, t(`reason.${r}`))));
  const sb = {
    state: h('span', { class: 'state', id: 'my-state' }),
    reason: h('span', { class: 'muted' }),
    timer: h('span', { class: 'timer', 'aria-label': t('desk.time_in_state') }),
    countdown: h('span', { class: 'countdown', role: 'timer' }),
    ready: h('button', {
      type: 'button', id: 'go-ready', 'aria-keyshortcuts': 'Alt+R',
      title: `${t('desk.ready')} (Alt+R)`, onclick: () => setPresence('available'),
    }, t('desk.ready')),
    wrap: h('span', { class: 'row' },
      h('button', { type: 'button', id: 'finish-wrap', class: 'primary', 'aria-keyshortcuts': 'Alt+W', title: `${t('desk.finish_wrap')} (Alt+W)`, onclick: finishWrapUp }, t('desk.finish_wrap')),
      h('button', { type: 'button', onclick: extendWrapUp }, t('desk.extend_wrap'))),
  };
  mount(stateBar, sb.state, sb.reason, sb.timer, sb.countdown, h('span', { class: 'spacer' }), sb.wrap, sb.ready, reasonSelect,
    h('button', {
      type: 'button', id: 'go-not-ready', 'aria-keyshortcuts': 'Alt+N', title: `${t('desk.not_ready')} (Alt+N)`,
      onclick: () => setPresence('not_ready', t(`reason.${reasonSelect.value}`)),
    }, t('desk.not_ready')),
    h('button', { type: 'button', onclick: () => setPresence('offline') }, t('desk.offline')));

  function renderState() {
    const s = routingState ? routingState.state : 'unknown';
    const inState = routingState ? routingState.seconds_in_state + (Date.now() - routingState.read) / 1000 : 0;
    sb.state.textContent = t(`state.${s}`);
    sb.state.className = `state st-${s}`;
    sb.state.dataset.state = s;
    sb.reason.textContent = (routingState && routingState.reason) || '';
    sb.timer.textContent = duration(inState);
    const left = wrapLeft();
    sb.countdown.hidden = !(s === 'wrap_up' && left !== null);
    sb.countdown.textContent = left !== null ? `${t('desk.wrap_left')} ${duration(left)}` : '';
    sb.wrap.hidden = s !== 'wrap_up';
    sb.ready.className = s === 'available' ? 'on' : 'primary';
    sb.ready.setAttribute('aria-pressed', String(s === 'available'));
  }

  // ---- tabs -----------------------------------------------------------------------------
  function tabTitle(tab) {
    if (tab.kind === 'customer') return tab.title || t('desk.customer');
    const p = tab.pop || {};
    const who = p.card && p.card.customer ? p.card.customer.name
      : (p.caller && p.caller.number) || (p.from && (p.from.name || p.from.address)) || `#${tab.id}`;
    return `${t(`channel.${p.channel || 'voice'}`)}: ${who}`;
  }

  function renderTabs() {
    const due = (callbacks || []).filter((c) => new Date(c.due_at) <= new Date()).length;
    const cbTitle = callbacks && callbacks.length ? `${t('cb.tab')} (${callbacks.length})` : t('cb.tab');
    const items = [['search', t('desk.search'), null], ['callbacks', cbTitle, due ? 'due' : null],
      ...tabs.map((tb) => [tb.key, tabTitle(tb), tb.status])];
    mount(tabBar, items.map(([key, title, status]) => h('button', {
      type: 'button', role: 'tab', class: `tab ${key === active ? 'on' : ''} ${status ? `tab-${status}` : ''}`,
      'aria-selected': String(key === active), 'data-tab': key,
      onclick: () => { active = key; saveTabs(); render(); },
    }, title, status ? h('span', { class: 'badge' }, status === 'due' ? t('cb.due_now') : t(`contact.${status}`)) : null)));
  }

  function openTab(tab, focus = true) {
    const existing = tabs.find((x) => x.key === tab.key);
    if (existing) Object.assign(existing, tab); else tabs.push(tab);
    if (focus) active = tab.key;
    saveTabs();
    render();
  }

  function closeTab(key) {
    const tab = tabs.find((x) => x.key === key);
    tabs = tabs.filter((x) => x.key !== key);
    if (tab && tab.kind === 'contact') keep.drop(draftKey(tab.id));
    if (active === key) active = tabs.length ? tabs[tabs.length - 1].key : 'search';
    saveTabs();
    render();
  }

  function render() {
    renderTabs();
    if (active === 'callbacks') { renderCallbacks(); return; }
    const tab = tabs.find((x) => x.key === active);
    if (!tab) { active = 'search'; renderSearch(); return; }
    if (tab.kind === 'contact') renderContact(tab); else renderCustomerTab(tab);
  }

  // ---- shared data ------------------------------------------------------------------------
  async function catalog() {
    if (!cache.dispositions) {
      const [d, q] = await Promise.all([get('/dispositions'), get('/queues')]);
      cache.dispositions = d.filter((x) => x.active);
      cache.queues = q;
    }
  }

  async function agentsList() {
    if (!cache.agents) cache.agents = await get('/agents');
    return cache.agents;
  }

  async function scriptsFor(queueId) {
    if (!queueId) return [];
    if (!cache.scripts.has(queueId)) cache.scripts.set(queueId, await get(`/scripts${qs({ queue_id: queueId })}`));
    return cache.scripts.get(queueId);
  }

  // ---- the customer card --------------------------------------------------------------------
  function cardView(card, { onEdited, callable = true } = {}) {
    const c = card.customer;
    const box = h('section', { class: 'card customer', 'aria-label': t('card.title') });
    const show = () => mount(box,
      h('div', { class: 'card-head' },
        h('h2', { class: 'card-name' }, c.name),
        c.vip ? h('span', { class: 'vip' }, 'VIP') : null,
        h('button', { type: 'button', class: 'small', onclick: edit }, t('card.edit'))),
      c.company ? h('div', { class: 'company' }, c.company) : null,
      c.tags.length ? h('div', { class: 'tags' }, c.tags.map((x) => h('span', { class: 'tag' }, x))) : null,
      h('dl', { class: 'fields' },
        c.identifiers.map((i) => [h('dt', {}, t(`ident.${i.kind}`)), h('dd', {}, i.value,
          callable && i.kind === 'phone' ? h('button', { type: 'button', class: 'small', onclick: () => dial(i.value, c.id), title: t('desk.call_number') }, t('desk.call')) : null)]),
        Object.entries(c.custom_fields || {}).map(([k, v]) => [h('dt', {}, k), h('dd', {}, typeof v === 'string' ? v : JSON.stringify(v))])),
      c.notes ? h('p', { class: 'notes' }, c.notes) : null);
    // An edit under way is kept as a draft: a reload or a lost connection reopens it as typed.
    const draftOf = `hotline.carddraft.${c.id}`;
    const cancelEdit = () => { keep.drop(draftOf); show(); };
    const edit = () => {
      const d = keep.get(draftOf, null);
      const name = h('input', { value: d ? d.name : c.name, required: true, id: 'card-edit-name' });
      const company = h('input', { value: d ? d.company : c.company || '' });
      const vip = h('input', { type: 'checkbox', checked: d ? d.vip : c.vip });
      const tags = h('input', { value: d ? d.tags : c.tags.join(', ') });
      const notes = h('textarea', { rows: 3, id: 'card-edit-notes' }, d ? d.notes : c.notes);
      const fields = h('textarea', { rows: 3, 'aria-describedby': 'cf-hint' }, d ? d.fields : Object.entries(c.custom_fields || {}).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join('\n'));
      const remember = () => keep.set(draftOf, {
        name: name.value, company: company.value, vip: vip.checked, tags: tags.value, notes: notes.value, fields: fields.value,
      });
      [name, company, vip, tags, notes, fields].forEach((el) => el.addEventListener('input', remember));
      vip.addEventListener('change', remember);
      remember();
      mount(box, h('form', {
        class: 'edit', onsubmit: async (e) => {
          e.preventDefault();
          const custom = {};
          for (const line of fields.value.split('\n')) {
            const at = line.indexOf(':');
            if (at > 0) custom[line.slice(0, at).trim()] = line.slice(at + 1).trim();
          }
          try {
            const saved = await patch(`/customers/${c.id}`, {
              name: name.value.trim(), company: company.value.trim() || null, vip: vip.checked,
              tags: tags.value.split(',').map((x) => x.trim()).filter(Boolean), notes: notes.value, custom_fields: custom,
            });
            Object.assign(c, saved);
            keep.drop(draftOf);
            ctx.toast(t('card.saved'));
            show();
            if (onEdited) onEdited(saved);
          } catch (err) { ctx.fail(err); }
        },
      },
      field(t('card.name'), name), field(t('card.company'), company),
      h('label', { class: 'check' }, vip, ' VIP'),
      field(t('card.tags'), tags), field(t('card.custom'), fields, t('card.custom_hint')), field(t('card.notes'), notes),
      h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary' }, t('save')), h('button', { type: 'button', onclick: cancelEdit }, t('cancel')))));
    };
    if (keep.get(draftOf, null)) edit(); else show();
    return box;
  }

  function timelineView(card) {
    const dispositions = new Map((cache.dispositions || []).map((d) => [d.id, d.name]));
    const queues = new Map((cache.queues || []).map((q) => [q.id, q.name]));
    return h('section', { class: 'card timeline', 'aria-label': t('timeline.title') },
      h('h3', {}, t('timeline.title')),
      card.timeline.length ? h('ol', { class: 'entries' }, card.timeline.map(({ interaction: i, events }) => h('li', { class: `entry ch-${i.channel}`, 'data-interaction': i.id },
        h('div', { class: 'entry-head' },
          h('span', { class: 'chan' }, t(`channel.${i.channel}`)),
          h('span', {}, t(`direction.${i.direction}`)),
          h('time', { datetime: i.created_at }, when(i.created_at, lang())),
          h('span', { class: `chip s-${i.state}` }, t(`istate.${i.state}`)),
          i.queue_id ? h('span', { class: 'muted' }, queues.get(i.queue_id) || '') : null),
        i.subject ? h('div', { class: 'subject' }, i.subject) : null,
        i.disposition_id ? h('div', { class: 'disposition' }, `${t('outcome.disposition')}: ${dispositions.get(i.disposition_id) || i.disposition_id}`) : null,
        i.notes ? h('div', { class: 'note' }, i.notes) : null,
        events.length ? h('details', {}, h('summary', {}, `${t('timeline.events')} (${events.length})`),
          h('ul', { class: 'events' }, events.map((e) => h('li', {}, h('time', {}, when(e.at, lang())), ' ', e.kind, ' · ', e.actor)))) : null)))
        : h('p', { class: 'muted' }, t('timeline.empty')));
  }

  function ivrView(steps) {
    const shown = (steps || []).filter((s) => IVR_SHOWN.has(s.kind));
    return h('section', { class: 'card ivr', 'aria-label': t('ivr.title') },
      h('h3', {}, t('ivr.title')),
      shown.length ? h('ol', {}, shown.map((s) => h('li', {},
        // `at` is wall time (ms since 1970): shown as the time of day.
        h('span', { class: 'muted' }, `${new Date(s.at || 0).toLocaleTimeString(lang() === 'ru' ? 'ru-RU' : 'en-GB')} `),
        t(`ivr.${s.kind}`, {}, s.kind),
        s.digit ? h('kbd', {}, s.digit) : null,
        s.digits ? h('kbd', {}, s.digits) : null,
        s.queue ? ` — ${s.queue}` : null,
        s.into ? ` (${s.into})` : null)))
        : h('p', { class: 'muted' }, t('ivr.none')));
  }

  async function dial(number, customerId) {
    try {
      const r = await post('/calls', { number, customer_id: customerId ?? null });
      ctx.toast(t('desk.dialling'));
      openTab({ key: `i${r.interaction_id}`, kind: 'contact', id: r.interaction_id, status: 'ringing', pop: { channel: 'voice', direction: 'outbound', caller: { number }, card: null } }, true);
    } catch (e) { ctx.fail(e); }
  }

  // ---- a contact ---------------------------------------------------------------------------
  async function renderContact(tab) {
    const pop = tab.pop || {};
    const draft = keep.get(draftKey(tab.id), null);
    const view = h('div', { class: 'contact', 'data-interaction': tab.id, 'data-offered-at': pop.offered_at || '' });
    mount(panel, view);
    try { await catalog(); } catch (e) { ctx.fail(e); }
    let interaction = null;
    try {
      interaction = (await get(`/interactions/${tab.id}`)).interaction;
    } catch (e) { ctx.fail(e); }
    if (!panel.contains(view)) return; // another tab was chosen meanwhile
    if (interaction && ['closed', 'abandoned', 'failed'].includes(interaction.state) && ['ringing', 'talking'].includes(tab.status)) {
      tab.status = 'ended'; // it ended while the page was away
      saveTabs();
      renderTabs();
    }
    let card = pop.card && pop.card.customer ? pop.card : null;
    const customerId = interaction ? interaction.customer_id : card && card.customer.id;
    const left = h('div', { class: 'col' });
    const right = h('div', { class: 'col' });

    // Header: who, where from, what state, call controls.
    const queueName = (pop.queue && pop.queue.name) || ((cache.queues || []).find((q) => interaction && q.id === interaction.queue_id) || {}).name;
    const live = tab.status === 'talking' || tab.status === 'ringing';
    const channel = pop.channel || (interaction && interaction.channel) || 'voice';
    // A written contact taken is being worked on, not talked in.
    const statusLabel = channel !== 'voice' && tab.status === 'talking' ? t('contact.working') : t(`contact.${tab.status || 'open'}`);
    const header = h('div', { class: 'contact-head' },
      h('h2', {}, t(`channel.${pop.channel || (interaction && interaction.channel) || 'voice'}`), ' ',
        (pop.caller && pop.caller.number) || (interaction && interaction.channel !== 'voice' && interaction.subject) || pop.subject || ''),
      queueName ? h('span', { class: 'queue' }, `${t('contact.queue')}: ${queueName}`) : null,
      h('span', { class: `chip s-${tab.status || 'open'}`, id: 'contact-status' }, statusLabel),
      pop.transferred_from ? h('span', { class: 'muted' }, t('contact.transferred')) : null,
      h('span', { class: 'spacer' }),
      !live ? h('button', { type: 'button', onclick: () => closeTab(tab.key), title: t('contact.close') }, t('contact.close')) : null);
    const controls = tab.status === 'talking' && (pop.channel || 'voice') === 'voice' ? callControls(tab) : null;

    // The card, or what to do with an unknown caller.
    const cardBox = h('div');
    const timelineBox = h('div');
    const showCard = async (fresh) => {
      if (fresh && customerId) {
        try { card = await get(`/customers/${customerId}/card${qs({ history: 20 })}`); } catch (e) { ctx.fail(e); }
      }
      if (card) {
        mount(cardBox, cardView(card, { onEdited: () => { tab.title = card.customer.name; } }));
        mount(timelineBox, timelineView(card));
      } else {
        mount(cardBox, unknownCaller(tab, pop, interaction));
        mount(timelineBox);
      }
    };
    await showCard(!card || !!interaction);
    view.dataset.shownAt = String(Date.now());

    // Outcome: notes and disposition, kept as a draft while typed.
    const notes = h('textarea', { id: 'contact-notes', rows: 5, 'aria-keyshortcuts': 'Alt+S' },
      draft ? draft.notes : (interaction && interaction.notes) || '');
    const disp = select([['', t('outcome.choose')], ...(cache.dispositions || []).map((d) => [d.id, d.name])],
      draft ? draft.disposition_id : interaction && interaction.disposition_id, { id: 'contact-disposition' });
    const keepDraft = () => keep.set(draftKey(tab.id), { notes: notes.value, disposition_id: disp.value });
    notes.addEventListener('input', keepDraft);
    disp.addEventListener('change', keepDraft);
    const required = interaction && (cache.queues || []).find((q) => q.id === interaction.queue_id && q.disposition_required);
    const save = async () => {
      try {
        await patch(`/interactions/${tab.id}`, { notes: notes.value, disposition_id: disp.value ? Number(disp.value) : null });
        keep.drop(draftKey(tab.id));
        tab.saved = true;
        saveTabs();
        ctx.toast(t('outcome.saved'));
        await showCard(true);
      } catch (e) { ctx.fail(e); }
    };
    const outcome = h('form', { class: 'card outcome', 'aria-label': t('outcome.title'), onsubmit: (e) => { e.preventDefault(); save(); } },
      h('h3', {}, t('outcome.title')),
      field(t('outcome.notes'), notes),
      field(t('outcome.disposition') + (required ? ' *' : ''), disp, required ? t('outcome.required') : null),
      h('button', { type: 'submit', class: 'primary', id: 'save-outcome', title: `${t('save')} (Alt+S)` }, t('save')));

    // The queue's script.
    const scriptBox = h('section', { class: 'card script', 'aria-label': t('script.title') }, h('h3', {}, t('script.title')));
    const qid = (pop.queue && pop.queue.id) || (interaction && interaction.queue_id);
    scriptsFor(qid).then((list) => {
      if (!list.length) scriptBox.appendChild(h('p', { class: 'muted' }, t('script.none')));
      list.forEach((s) => scriptBox.append(h('h4', {}, s.title), renderMarkdown(s.body_markdown)));
    }).catch((e) => ctx.fail(e));

    let written = null;
    if (channel === 'email' || channel === 'form') written = writtenView(tab, interaction, card);
    else if (channel === 'chat') written = chatView(tab, interaction, card);
    mount(left, written, cardBox, ivrView(pop.ivr), timelineBox);
    mount(right, outcome, scheduleForm(tab, pop, interaction, card), scriptBox);
    mount(view, header, controls, h('div', { class: 'cols' }, left, right));
  }

  // An e-mail conversation: the messages (text only: the page never renders mail HTML), and
  // what the agent can do — take or pass an offered one; answer (quoting, files), finish.
  function writtenView(tab, interaction, card) {
    const box = h('section', { class: 'card thread', id: 'email-thread', 'aria-label': t('email.thread') }, h('h3', {}, t('email.thread')));
    const list = h('div', { class: 'messages' });
    let last = null;
    const load = async () => {
      let msgs = [];
      try { msgs = await get(`/interactions/${tab.id}/messages`); } catch (e) { ctx.fail(e); return; }
      last = [...msgs].reverse().find((m) => m.direction === 'inbound' && !m.auto) || null;
      mount(list, ...msgs.map((m) => h('article', { class: `message ${m.direction}${m.auto ? ' auto' : ''}`, 'data-status': m.status, 'data-id': m.id },
        h('header', {},
          h('strong', {}, m.direction === 'inbound' ? (m.from_name || m.from_addr || t('email.unknown_sender')) : `→ ${m.to.join(', ')}`),
          ' ', h('span', { class: 'muted' }, when(m.created_at, lang())),
          m.direction === 'outbound' ? h('span', { class: `chip s-${m.status}` }, t(`email.status.${m.status}`)) : null,
          m.auto ? h('span', { class: 'chip' }, t('email.auto')) : null),
        h('div', { class: 'subject' }, m.subject),
        h('div', { class: 'body' }, m.body_text),
        m.error && m.status !== 'sent' ? h('p', { class: 'error' }, m.error) : null,
        m.attachments.length ? h('ul', { class: 'files' }, m.attachments.map((a) => h('li', {},
          h('a', { href: `/api/v1/attachments/${a.id}`, download: a.name }, a.name), ` (${Math.ceil(a.size / 1024)} KB)`))) : null)));
    };
    load();
    let actions = null;
    if (tab.status === 'ringing') {
      actions = h('div', { class: 'row' },
        h('button', { type: 'button', class: 'primary', id: 'email-accept', onclick: async () => {
          try { await post(`/interactions/${tab.id}/accept`); tab.status = 'talking'; saveTabs(); render(); loadState(); } catch (e) { ctx.fail(e); }
        } }, t('email.accept')),
        h('button', { type: 'button', id: 'email-decline', onclick: async () => {
          try { await post(`/interactions/${tab.id}/decline`); closeTab(tab.key); loadState(); } catch (e) { ctx.fail(e); }
        } }, t('email.decline')));
    } else if (tab.status === 'talking') {
      const key = `hotline.reply.${tab.id}`;
      const text = h('textarea', { id: 'email-reply', rows: 8, 'aria-label': t('email.reply') }, keep.get(key, ''));
      text.addEventListener('input', () => keep.set(key, text.value));
      const files = h('input', { type: 'file', id: 'email-files', multiple: true, 'aria-label': t('email.attach') });
      const read = (f) => new Promise((ok, fail) => {
        const r = new FileReader();
        r.onload = () => ok({ name: f.name, content_type: f.type || null, data_base64: String(r.result).split(',')[1] || '' });
        r.onerror = () => fail(r.error);
        r.readAsDataURL(f);
      });
      // Rich text: what the agent types is read as light Markdown (**bold**, *italic*, lists,
      // links) and sent as HTML beside the plain text (the server sanitises it again).
      const rich = h('input', { type: 'checkbox', id: 'email-rich', checked: keep.get('hotline.reply.rich', true) });
      rich.addEventListener('change', () => keep.set('hotline.reply.rich', rich.checked));
      const send = async () => {
        if (!text.value.trim()) return;
        try {
          const attachments = await Promise.all([...files.files].map(read));
          const html = rich.checked ? h('div', {}, renderMarkdown(text.value)).innerHTML : null;
          const m = await post(`/interactions/${tab.id}/messages`, { text: text.value, html, attachments });
          if (m.status === 'sent') { ctx.toast(t('email.sent')); keep.drop(key); text.value = ''; files.value = ''; }
          else ctx.toast(`${t('email.failed')}: ${m.error || ''}`, 'warn');
          load();
        } catch (e) { ctx.fail(e); }
      };
      const quote = () => {
        if (!last) return;
        const q = last.body_text.split('\n').map((l) => `> ${l}`).join('\n');
        text.value = `${text.value}${text.value ? '\n\n' : ''}${q}\n`;
        keep.set(key, text.value);
        text.focus();
      };
      actions = h('form', { class: 'reply', onsubmit: (e) => { e.preventDefault(); send(); } },
        templatePicker('email', 'email-template', t('email.template'), card, (body) => {
          text.value = `${text.value}${text.value ? '\n\n' : ''}${body}`;
          keep.set(key, text.value);
          text.focus();
        }),
        field(t('email.reply'), text),
        h('label', { class: 'row' }, rich, ' ', t('email.rich')),
        field(t('email.attach'), files),
        h('div', { class: 'row' },
          h('button', { type: 'submit', class: 'primary', id: 'email-send' }, t('email.send')),
          h('button', { type: 'button', id: 'email-quote', onclick: quote }, t('email.quote')),
          h('span', { class: 'spacer' }),
          h('button', { type: 'button', id: 'email-finish', onclick: () => finishWritten(tab, interaction) }, t('email.finish'))));
    }
    mount(box, h('h3', {}, t('email.thread')), list, actions);
    return box;
  }

  // Canned responses / reply templates of a channel: choosing one hands its text (with
  // {name} and {agent} filled in) to `use`.
  function templatePicker(channel, id, label, card, use) {
    const pick = h('select', { id, 'aria-label': label }, h('option', { value: '' }, label));
    const fill = (body) => body
      .replaceAll('{name}', (card && card.customer && card.customer.name) || '')
      .replaceAll('{agent}', agent.display_name || '');
    (cache.templates ? Promise.resolve(cache.templates) : get('/templates').then((l) => { cache.templates = l; return l; }))
      .then((list) => list.filter((x) => x.channel === channel || x.channel === 'any')
        .forEach((x) => pick.appendChild(h('option', { value: String(x.id) }, x.name))))
      .catch((e) => ctx.fail(e));
    pick.addEventListener('change', () => {
      const x = (cache.templates || []).find((y) => String(y.id) === pick.value);
      if (x) use(fill(x.body));
      pick.value = '';
    });
    return pick;
  }

  async function finishWritten(tab, interaction) {
    try {
      await post(`/interactions/${tab.id}/finish`);
      tab.status = 'ended';
      wrapUp = { interaction_id: tab.id, queue_id: (interaction && interaction.queue_id) || null };
      keep.set(`hotline.desk.${agent.id}.wrap`, wrapUp);
      saveTabs();
      render();
      loadState();
    } catch (e) { ctx.fail(e); }
  }

  // A web chat: the conversation as it happens (messages arrive as live events and are added
  // in place, so what the agent is typing stays), canned responses, files, typing shown both
  // ways, finish. Several chats are several tabs.
  const chatViews = new Map();
  function chatView(tab, interaction, card) {
    const box = h('section', { class: 'card chat', id: 'chat-box', 'aria-label': t('chat.log') });
    const log = h('div', { class: 'chat-log', id: 'chat-log', role: 'log', 'aria-live': 'polite' });
    const typing = h('p', { class: 'muted typing', id: 'chat-typing', hidden: true }, t('chat.typing'));
    const seen = new Set();
    const add = (m) => {
      if (seen.has(m.id)) return;
      seen.add(m.id);
      log.appendChild(h('article', { class: `chat-msg ${m.direction}`, 'data-id': m.id },
        h('header', {}, h('strong', {}, m.from_name || (m.direction === 'inbound' ? t('email.unknown_sender') : '')), ' ',
          h('span', { class: 'muted' }, when(m.created_at, lang()))),
        m.body_text ? h('div', { class: 'body' }, m.body_text) : null,
        m.attachments.length ? h('ul', { class: 'files' }, m.attachments.map((a) => h('li', {},
          h('a', { href: `/api/v1/attachments/${a.id}`, download: a.name }, a.name), ` (${Math.ceil(a.size / 1024)} KB)`))) : null));
      log.scrollTop = log.scrollHeight;
      typing.hidden = true;
    };
    const reload = () => get(`/interactions/${tab.id}/messages`).then((l) => l.forEach(add)).catch((e) => ctx.fail(e));
    reload();
    let hideTyping = null;
    chatViews.set(tab.id, {
      add,
      // After the live stream was away: what was said meanwhile.
      reload,
      typing: () => {
        typing.hidden = false;
        clearTimeout(hideTyping);
        hideTyping = setTimeout(() => { typing.hidden = true; }, 4000);
      },
      left: () => { typing.hidden = true; log.appendChild(h('p', { class: 'chip s-ended', id: 'chat-left' }, t('chat.left'))); },
    });
    let actions = null;
    if (tab.status === 'ringing') {
      actions = h('div', { class: 'row' },
        h('button', { type: 'button', class: 'primary', id: 'chat-accept', onclick: async () => {
          try { await post(`/interactions/${tab.id}/accept`); tab.status = 'talking'; saveTabs(); render(); loadState(); } catch (e) { ctx.fail(e); }
        } }, t('email.accept')),
        h('button', { type: 'button', id: 'chat-decline', onclick: async () => {
          try { await post(`/interactions/${tab.id}/decline`); closeTab(tab.key); loadState(); } catch (e) { ctx.fail(e); }
        } }, t('email.decline')));
    } else if (tab.status === 'talking') {
      const key = `hotline.chat.${tab.id}`;
      const input = h('textarea', { id: 'chat-input', rows: 3, 'aria-label': t('chat.input') }, keep.get(key, ''));
      let lastTyping = 0;
      input.addEventListener('input', () => {
        keep.set(key, input.value);
        const now = Date.now();
        if (now - lastTyping > 2000) { lastTyping = now; post(`/interactions/${tab.id}/typing`).catch(() => {}); }
      });
      const send = async () => {
        const text = input.value.trim();
        if (!text) return;
        try {
          add(await post(`/interactions/${tab.id}/messages`, { text }));
          input.value = '';
          keep.drop(key);
        } catch (e) { ctx.fail(e); }
      };
      input.addEventListener('keydown', (e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); send(); } });
      const file = h('input', { type: 'file', id: 'chat-file', 'aria-label': t('chat.file') });
      file.addEventListener('change', () => {
        const f = file.files[0];
        if (!f) return;
        const r = new FileReader();
        r.onload = async () => {
          try {
            add(await post(`/interactions/${tab.id}/messages`, { text: '', attachments: [{ name: f.name, content_type: f.type || null, data_base64: String(r.result).split(',')[1] || '' }] }));
            file.value = '';
          } catch (e) { ctx.fail(e); }
        };
        r.readAsDataURL(f);
      });
      actions = h('form', { class: 'reply', onsubmit: (e) => { e.preventDefault(); send(); } },
        templatePicker('chat', 'chat-canned', t('chat.canned'), card, (body) => { input.value = body; keep.set(key, body); input.focus(); }),
        field(t('chat.input'), input),
        h('div', { class: 'row' },
          h('button', { type: 'submit', class: 'primary', id: 'chat-send' }, t('chat.send')),
          file,
          h('span', { class: 'spacer' }),
          h('button', { type: 'button', id: 'chat-finish', onclick: () => finishWritten(tab, interaction) }, t('chat.finish'))));
    }
    mount(box, h('h3', {}, t('chat.log')), log, typing, actions);
    return box;
  }

  // Call controls of a call the agent is on: hold, hang up, blind transfer (agent, queue,
  // number), consultation (agent or number) that can become a conference or a hand-over.
  // The call's state comes from the server (contact.call_state), never guessed here.
  function callControls(tab) {
    const call = tab.call || { held: false, consult: null };
    const control = async (body, done) => {
      try {
        await post(`/interactions/${tab.id}/control`, body);
        if (done) ctx.toast(done);
      } catch (e) { ctx.fail(e); }
    };
    const target = h('select', { id: 'call-target', 'aria-label': t('call.target') }, h('option', { value: '' }, t('call.choose_target')));
    const agentsGroup = h('optgroup', { label: t('call.agents') });
    const queuesGroup = h('optgroup', { label: t('call.queues') });
    target.append(agentsGroup, queuesGroup);
    agentsList().then((list) => list.filter((a) => a.id !== agent.id)
      .forEach((a) => agentsGroup.appendChild(h('option', { value: `agent:${a.id}` }, `${a.display_name} (${a.extension})`)))).catch(() => {});
    (cache.queues || []).forEach((q) => queuesGroup.appendChild(h('option', { value: `queue:${q.id}` }, q.name)));
    const number = h('input', { id: 'call-number', type: 'tel', placeholder: t('call.number_placeholder'), 'aria-label': t('call.number'), autocomplete: 'off' });
    // The target chosen: a number typed wins over the list.
    const chosen = () => {
      const n = number.value.trim();
      if (n) return { number: n };
      const [kind, id] = target.value.split(':');
      if (kind === 'agent') return { agent_id: Number(id) };
      if (kind === 'queue') return { queue_id: Number(id) };
      return null;
    };
    const transfer = async () => {
      const to = chosen();
      if (!to) { ctx.toast(t('call.choose_target_first'), 'warn'); return; }
      try {
        await post(`/interactions/${tab.id}/transfer`, to);
        ctx.toast(t('contact.transferred_ok'));
      } catch (e) { ctx.fail(e); }
    };
    const consult = () => {
      const to = chosen();
      if (!to || to.queue_id) { ctx.toast(t('call.consult_needs'), 'warn'); return; }
      control({ action: 'consult', ...to });
    };
    const box = h('section', { class: 'card call-controls row', 'aria-label': t('call.controls'), id: 'call-controls' });
    // Element.append would write a left-out (null) control as the text "null".
    const add = (...kids) => box.append(...kids.filter(Boolean));
    const c = call.consult;
    // A call the agent placed (click-to-call, a callback): the desk hangs it up; hold and
    // transfer are the phone's.
    if ((tab.pop || {}).direction === 'outbound') {
      add(h('span', { class: 'muted' }, t('call.outbound_controls')), h('span', { class: 'spacer' }),
        h('button', { type: 'button', id: 'call-hangup', class: 'danger', onclick: () => control({ action: 'hang_up' }) }, t('call.hang_up')));
      return box;
    }
    if (c) {
      add(
        h('span', { class: `chip s-consult-${c.state}`, id: 'consult-state' }, `${t(`call.consult_${c.state}`)}: ${c.target}`),
        c.state !== 'ringing' && c.state !== 'conference'
          ? h('button', { type: 'button', id: 'call-conference', onclick: () => control({ action: 'conference' }) }, t('call.conference')) : null,
        c.state !== 'ringing'
          ? h('button', { type: 'button', id: 'call-complete', class: 'primary', onclick: () => control({ action: 'complete_transfer' }, t('contact.transferred_ok')) }, t('call.complete')) : null,
        h('button', { type: 'button', id: 'call-cancel-consult', onclick: () => control({ action: 'cancel_consult' }) }, t('call.cancel_consult')));
    } else {
      add(
        call.held ? h('span', { class: 'chip s-held', id: 'held-state' }, t('call.held')) : null,
        h('button', {
          type: 'button', id: 'call-hold', 'aria-keyshortcuts': 'Alt+H', title: `${t(call.held ? 'call.resume' : 'call.hold')} (Alt+H)`,
          onclick: () => control({ action: call.held ? 'resume' : 'hold' }),
        }, t(call.held ? 'call.resume' : 'call.hold')),
        target, number,
        h('button', { type: 'button', id: 'call-transfer', onclick: transfer }, t('contact.transfer')),
        h('button', { type: 'button', id: 'call-consult', onclick: consult }, t('call.consult')));
    }
    add(h('span', { class: 'spacer' }),
      h('button', { type: 'button', id: 'call-hangup', class: 'danger', onclick: () => control({ action: 'hang_up' }) }, t('call.hang_up')));
    return box;
  }

  function unknownCaller(tab, pop, interaction) {
    const number = pop.caller && pop.caller.number;
    const name = h('input', { id: 'new-customer-name', required: true });
    const company = h('input');
    const search = h('input', { type: 'search', 'aria-label': t('card.find') });
    const results = h('ul', { class: 'results' });
    const link = async (customer, addNumber) => {
      try {
        await patch(`/interactions/${tab.id}`, { customer_id: customer.id });
        if (addNumber && number) {
          try { await post(`/customers/${customer.id}/identifiers`, { kind: 'phone', value: number }); } catch (e) { if (e.code !== 'conflict' && e.status !== 409) throw e; }
        }
        tab.pop = { ...pop, card: await get(`/customers/${customer.id}/card${qs({ history: 20 })}`) };
        tab.title = customer.name;
        saveTabs();
        render();
      } catch (e) { ctx.fail(e); }
    };
    return h('section', { class: 'card unknown', 'aria-label': t('card.unknown') },
      h('h2', {}, t('card.unknown')),
      number ? h('p', {}, number) : null,
      h('form', {
        onsubmit: async (e) => {
          e.preventDefault();
          try {
            const c = await post('/customers', { name: name.value.trim(), company: company.value.trim() || null, phones: number ? [number] : [] });
            await link(c, false);
            ctx.toast(t('card.created'));
          } catch (err) { ctx.fail(err); }
        },
      }, h('h3', {}, t('card.create')), field(t('card.name'), name), field(t('card.company'), company),
      h('button', { type: 'submit', class: 'primary' }, t('card.create'))),
      h('h3', {}, t('card.link')),
      h('form', {
        class: 'row', onsubmit: async (e) => {
          e.preventDefault();
          try {
            const page = await get(`/customers${qs({ q: search.value.trim(), limit: 10 })}`);
            mount(results, page.items.map((c) => h('li', {}, h('span', {}, c.name, c.company ? ` — ${c.company}` : ''),
              h('button', { type: 'button', class: 'small', onclick: () => link(c, true) }, t('card.link_this')))));
            if (!page.items.length) mount(results, h('li', { class: 'muted' }, t('search.nothing')));
          } catch (err) { ctx.fail(err); }
        },
      }, search, h('button', { type: 'submit' }, t('search.go'))),
      results);
  }

  // ---- a customer opened from search -----------------------------------------------------------
  async function renderCustomerTab(tab) {
    const view = h('div', { class: 'contact' });
    mount(panel, view);
    try {
      await catalog();
      const card = await get(`/customers/${tab.id}/card${qs({ history: 50 })}`);
      if (!panel.contains(view)) return;
      mount(view, h('div', { class: 'contact-head' }, h('h2', {}, card.customer.name), h('span', { class: 'spacer' }),
        h('button', { type: 'button', onclick: () => closeTab(tab.key) }, t('contact.close'))),
      h('div', { class: 'cols' }, h('div', { class: 'col' }, cardView(card)), h('div', { class: 'col' }, timelineView(card))));
    } catch (e) { ctx.fail(e); }
  }

  // ---- callbacks ---------------------------------------------------------------------------------
  async function loadCallbacks() {
    try {
      callbacks = await get(`/callbacks${qs({ agent_id: agent.id })}`);
    } catch (e) { ctx.fail(e); return; }
    renderTabs();
    if (active === 'callbacks') renderCallbacks();
  }

  // Booking a callback from a contact: when, whose (mine or anyone's in the queue), which
  // number (the caller's or the customer's by default), what about. Kept as a draft.
  function scheduleForm(tab, pop, interaction, card) {
    const key = `hotline.cbdraft.${tab.id}`;
    const d = keep.get(key, null);
    const tomorrow = new Date(Date.now() + 86400000);
    tomorrow.setHours(10, 0, 0, 0);
    const local = (x) => `${x.getFullYear()}-${two(x.getMonth() + 1)}-${two(x.getDate())}T${two(x.getHours())}:${two(x.getMinutes())}`;
    const phone = card && card.customer ? (card.customer.identifiers.find((i) => i.kind === 'phone') || {}).value : null;
    const at = h('input', { type: 'datetime-local', id: 'cb-at', required: true, value: d ? d.at : local(tomorrow) });
    const whose = select([['me', t('cb.for_me')], ['anyone', t('cb.for_queue')]], d ? d.whose : 'me', { id: 'cb-whose' });
    const number = h('input', { type: 'tel', id: 'cb-number', value: d ? d.number : (pop.caller && pop.caller.number) || phone || '' });
    const note = h('input', { type: 'text', id: 'cb-note', maxlength: 500, value: d ? d.note : '' });
    const remember = () => keep.set(key, { at: at.value, whose: whose.value, number: number.value, note: note.value });
    [at, whose, number, note].forEach((el) => el.addEventListener('input', remember));
    const book = async () => {
      if (!at.value) return;
      try {
        await post('/callbacks', {
          interaction_id: tab.id, due_at: new Date(at.value).toISOString(), anyone: whose.value === 'anyone',
          number: number.value.trim() || null, customer_id: interaction && interaction.customer_id ? null : (card && card.customer ? card.customer.id : null),
          queue_id: interaction && interaction.queue_id ? null : (pop.queue && pop.queue.id) || null, note: note.value,
        });
        keep.drop(key);
        note.value = '';
        ctx.toast(t('cb.booked'));
        loadCallbacks();
      } catch (e) { ctx.fail(e); }
    };
    return h('form', { class: 'card', id: 'cb-form', 'aria-label': t('cb.schedule'), onsubmit: (e) => { e.preventDefault(); book(); } },
      h('h3', {}, t('cb.schedule')),
      h('div', { class: 'row' }, field(t('cb.when'), at), field(t('cb.whose'), whose)),
      field(t('cb.number'), number, t('cb.number_hint')), field(t('cb.note'), note),
      h('button', { type: 'submit', id: 'cb-book' }, t('cb.book')));
  }

  function renderCallbacks() {
    const list = callbacks || [];
    const now = new Date();
    const cancel = async (cb) => {
      try {
        await del(`/callbacks/${cb.interaction_id}`);
        ctx.toast(t('cb.cancelled'));
        loadCallbacks();
      } catch (e) { ctx.fail(e); }
    };
    mount(panel, h('section', { class: 'card', id: 'my-callbacks', 'aria-label': t('cb.title') },
      h('h2', {}, t('cb.title')),
      list.length ? h('table', { class: 'grid' },
        h('thead', {}, h('tr', {}, [t('cb.when'), t('filter.customer'), t('cb.number'), t('cb.note'), t('col.state'), ''].map((x) => h('th', { scope: 'col' }, x)))),
        h('tbody', {}, list.map((cb) => h('tr', { 'data-callback': cb.interaction_id, class: new Date(cb.due_at) <= now ? 'due' : '' },
          h('td', {}, when(cb.due_at, lang()), new Date(cb.due_at) <= now ? h('span', { class: 'badge' }, t('cb.due_now')) : null),
          h('td', {}, cb.customer_id
            ? h('button', { type: 'button', class: 'link', onclick: () => openTab({ key: `c${cb.customer_id}`, kind: 'customer', id: cb.customer_id, title: cb.customer_name }) }, cb.customer_name || `#${cb.customer_id}`)
            : ''),
          h('td', {}, cb.number), h('td', { class: 'clip' }, cb.note), h('td', {}, t(`istate.${cb.state}`)),
          h('td', {}, cb.state === 'queued' ? h('button', { type: 'button', class: 'danger', 'aria-label': `${t('cb.cancel')}: ${cb.customer_name || cb.number}`, onclick: () => cancel(cb) }, t('cb.cancel')) : null)))))
        : h('p', { class: 'muted' }, t('cb.none')),
      h('p', { class: 'muted' }, t('cb.how'))));
  }

  // ---- search ------------------------------------------------------------------------------------
  function renderSearch() {
    const q = h('input', { type: 'search', id: 'search-q', 'aria-label': t('search.customers'), placeholder: t('search.placeholder'), value: keep.get('hotline.desk.q', '') });
    const found = h('ul', { class: 'results' });
    const number = h('input', { type: 'tel', id: 'dial-number', 'aria-label': t('desk.number') });
    const mine = h('div');
    const from = h('input', { type: 'date', 'aria-label': t('filter.from') });
    const runSearch = async () => {
      keep.set('hotline.desk.q', q.value);
      if (!q.value.trim()) { mount(found); return; }
      try {
        const page = await get(`/customers${qs({ q: q.value.trim(), limit: 20 })}`);
        mount(found, page.items.length ? page.items.map((c) => h('li', {},
          h('button', { type: 'button', class: 'link', onclick: () => openTab({ key: `c${c.id}`, kind: 'customer', id: c.id, title: c.name }) }, c.name),
          c.vip ? h('span', { class: 'vip' }, 'VIP') : null,
          h('span', { class: 'muted' }, [c.company, ...c.identifiers.map((i) => i.value)].filter(Boolean).join(' · ')))) : h('li', { class: 'muted' }, t('search.nothing')));
      } catch (e) { ctx.fail(e); }
    };
    const loadMine = async () => {
      try {
        await catalog();
        const page = await get(`/interactions${qs({ agent_id: agent.id, limit: 20, from: from.value ? new Date(from.value).toISOString() : '' })}`);
        const dispositions = new Map(cache.dispositions.map((d) => [d.id, d.name]));
        mount(mine, page.items.length ? h('table', { class: 'grid' },
          h('thead', {}, h('tr', {}, [t('col.when'), t('col.channel'), t('col.state'), t('col.disposition'), t('col.notes')].map((x) => h('th', { scope: 'col' }, x)))),
          h('tbody', {}, page.items.map((i) => h('tr', {},
            h('td', {}, i.customer_id ? h('button', { type: 'button', class: 'link', onclick: () => openTab({ key: `c${i.customer_id}`, kind: 'customer', id: i.customer_id }) }, when(i.created_at, lang())) : when(i.created_at, lang())),
            h('td', {}, t(`channel.${i.channel}`)), h('td', {}, t(`istate.${i.state}`)),
            h('td', {}, i.disposition_id ? dispositions.get(i.disposition_id) || '' : ''), h('td', { class: 'clip' }, i.notes)))))
          : h('p', { class: 'muted' }, t('search.nothing')));
      } catch (e) { ctx.fail(e); }
    };
    from.addEventListener('change', loadMine);
    mount(panel, h('div', { class: 'cols' },
      h('div', { class: 'col' },
        h('section', { class: 'card' }, h('h2', {}, t('search.customers')),
          h('form', { class: 'row', role: 'search', onsubmit: (e) => { e.preventDefault(); runSearch(); } }, q, h('button', { type: 'submit' }, t('search.go'))),
          found),
        h('section', { class: 'card' }, h('h2', {}, t('desk.click_to_call')),
          h('form', { class: 'row', onsubmit: (e) => { e.preventDefault(); if (number.value.trim()) dial(number.value.trim(), null); } },
            number, h('button', { type: 'submit', class: 'primary' }, t('desk.call'))))),
      h('div', { class: 'col' },
        h('section', { class: 'card' }, h('h2', {}, t('search.mine')), field(t('filter.from'), from), mine))));
    runSearch();
    loadMine();
  }

  // ---- live events -----------------------------------------------------------------------------
  const off = ctx.on(async (ev) => {
    const d = ev.data || {};
    switch (ev.kind) {
      case 'contact.offered':
        openTab({ key: `i${d.interaction_id}`, kind: 'contact', id: d.interaction_id, pop: d, status: 'ringing' }, true);
        loadState();
        if (d.callback) loadCallbacks();
        break;
      case 'contact.connected': {
        const tab = tabs.find((x) => x.key === `i${d.interaction_id}`);
        if (tab) { tab.status = 'talking'; saveTabs(); render(); }
        loadState();
        break;
      }
      case 'contact.call_state': {
        const tab = tabs.find((x) => x.key === `i${d.interaction_id}`);
        if (tab) {
          tab.call = { held: !!d.held, consult: d.consult || null };
          saveTabs();
          if (active === tab.key) render();
        }
        break;
      }
      case 'contact.withdrawn': {
        const tab = tabs.find((x) => x.key === `i${d.interaction_id}`);
        if (tab && tab.status === 'ringing') {
          ctx.toast(t('contact.missed'), 'warn');
          closeTab(tab.key);
        }
        loadState();
        break;
      }
      case 'contact.ended': {
        const tab = tabs.find((x) => x.key === `i${d.interaction_id}`);
        if (tab) {
          tab.status = 'ended';
          tab.call = null;
          const qid = tab.pop && tab.pop.queue && tab.pop.queue.id;
          wrapUp = { interaction_id: d.interaction_id, queue_id: qid || null };
          keep.set(`hotline.desk.${agent.id}.wrap`, wrapUp);
          saveTabs();
          renderTabs();
          const status = document.getElementById('contact-status');
          if (status && active === tab.key) { status.textContent = t('contact.ended'); status.className = 'chip s-ended'; }
        }
        loadState();
        loadCallbacks();
        break;
      }
      case 'email.received':
      case 'email.bounced':
      case 'email.failed': {
        const tab = tabs.find((x) => x.key === `i${d.interaction_id}`);
        // A failed reply on the open tab was already said by the send itself.
        const onScreen = tab && active === tab.key;
        if (ev.kind === 'email.bounced' || (ev.kind === 'email.failed' && !onScreen)) {
          ctx.toast(t(`email.${ev.kind === 'email.bounced' ? 'bounced' : 'failed'}`), 'warn');
        }
        else if (tab) ctx.toast(t('email.new_mail'));
        if (tab && active === tab.key) render();
        break;
      }
      case 'chat.message': {
        const v = chatViews.get(d.interaction_id);
        if (v && active === `i${d.interaction_id}` && document.getElementById('chat-log')) v.add(d.message);
        else ctx.toast(t('chat.new_message'));
        break;
      }
      case 'chat.typing': {
        const v = chatViews.get(d.interaction_id);
        if (v && active === `i${d.interaction_id}`) v.typing();
        break;
      }
      case 'chat.ended': {
        const v = chatViews.get(d.interaction_id);
        if (v && active === `i${d.interaction_id}`) v.left();
        else ctx.toast(t('chat.left'));
        break;
      }
      case 'callback.scheduled':
      case 'callback.cancelled':
        loadCallbacks();
        break;
      case 'agent.presence':
        loadState();
        break;
      case 'resync':
        chatViews.forEach((v, id) => { if (active === `i${id}` && document.getElementById('chat-log')) v.reload(); });
        loadState();
        loadCallbacks();
        break;
      default:
    }
  });

  const keys = (e) => {
    if (!e.altKey || e.ctrlKey || e.metaKey) return;
    const k = e.key.toLowerCase();
    if (k === 'r') { e.preventDefault(); setPresence('available'); }
    else if (k === 'n') { e.preventDefault(); document.getElementById('go-not-ready')?.click(); }
    else if (k === 'w') { e.preventDefault(); finishWrapUp(); }
    else if (k === 'h') { const b = document.getElementById('call-hold'); if (b) { e.preventDefault(); b.click(); } }
    else if (k === 's') { const b = document.getElementById('save-outcome'); if (b) { e.preventDefault(); b.click(); } }
    else if (k === 'f') { e.preventDefault(); active = 'search'; saveTabs(); render(); document.getElementById('search-q')?.focus(); }
  };
  document.addEventListener('keydown', keys);

  timer = setInterval(() => {
    if (routingState) renderState();
  }, 1000);
  const poll = setInterval(loadState, 5000);
  // Callbacks come due by the clock, not by an event.
  const duePoll = setInterval(() => { if (callbacks && callbacks.length) renderTabs(); }, 30000);

  catalog().catch(() => {}).then(() => { loadState(); loadCallbacks(); render(); });

  return () => {
    off();
    document.removeEventListener('keydown', keys);
    clearInterval(timer);
    clearInterval(poll);
    clearInterval(duePoll);
  };
}
