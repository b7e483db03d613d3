// The supervisor's console: the live wallboard (queues and agents, with alarms), the agents
// list (change state or skills), and interactions (filter, open, timeline, play the recording;
// on a live call the supervisor's phone listens in, whispers to the agent or joins).

import { h, mount, duration, when, field, select, keep, skillsText, parseSkills } from './dom.js';
import { get, put, patch, post, del, qs } from './api.js';
import { t, lang } from './i18n.js';

const STATES = ['available', 'reserved', 'busy', 'wrap_up', 'not_ready', 'offline'];

export function supervisorView(ctx, main, rest) {
  const sub = ['wallboard', 'agents', 'interactions'].includes(rest[0]) ? rest[0] : 'wallboard';
  const body = h('div');
  mount(main,
    h('nav', { class: 'subnav', 'aria-label': t('nav.supervisor') },
      ['wallboard', 'agents', 'interactions'].map((k) => h('a', { href: `#supervisor/${k}`, class: k === sub ? 'on' : '', 'aria-current': k === sub ? 'page' : null }, t(`sup.${k}`)))),
    body);
  if (sub === 'wallboard') return wallboard(ctx, body);
  if (sub === 'agents') return agentsList(ctx, body);
  return interactions(ctx, body, rest[1]);
}

// ---- wallboard --------------------------------------------------------------------------------

/** Per-queue thresholds, kept in this browser: waiting contacts, oldest wait (s), service level (%). */
function thresholds(queue) {
  const all = keep.get('hotline.alarms', {});
  return { waiting: 5, oldest: queue.service_level_seconds, level: queue.service_level_target, ...(all[queue.queue_id] || {}) };
}

function alarmsOf(q) {
  const th = thresholds(q);
  const out = [];
  if (q.waiting >= th.waiting) out.push(t('wb.alarm_waiting', { n: q.waiting }));
  if ((q.oldest_wait_seconds || 0) > th.oldest) out.push(t('wb.alarm_oldest', { s: q.oldest_wait_seconds }));
  if (q.service_level !== null && q.service_level !== undefined && q.service_level < th.level) out.push(t('wb.alarm_level', { p: q.service_level }));
  return out;
}

function wallboard(ctx, body) {
  const queues = h('div', { class: 'tiles', id: 'wb-queues' });
  const agents = h('tbody', { id: 'wb-agents' });
  const stamp = h('span', { class: 'muted' });
  const settings = h('details', { class: 'card' }, h('summary', {}, t('wb.thresholds')));
  mount(body,
    h('section', { 'aria-label': t('wb.queues') }, h('h2', {}, t('wb.queues'), ' ', stamp), queues),
    h('section', { class: 'card', 'aria-label': t('wb.agents') }, h('h2', {}, t('wb.agents')),
      h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, [t('col.agent'), t('col.ext'), t('col.state'), t('col.in_state'), t('col.contacts')].map((x) => h('th', { scope: 'col' }, x)))), agents)),
    settings);
  let last = null;
  let settingsBuilt = false;
  const draw = (b) => {
    stamp.textContent = new Date(b.at_ms).toLocaleTimeString(lang() === 'ru' ? 'ru-RU' : 'en-GB');
    mount(queues, b.queues.map((q) => {
      const alarms = alarmsOf(q);
      const by = q.agents_by_state || {};
      return h('article', { class: `tile ${alarms.length ? 'alarm' : ''}`, 'data-queue': q.queue_id, 'aria-label': q.name },
        h('h3', {}, q.name),
        h('div', { class: 'big' },
          h('div', {}, h('span', { class: 'num', 'data-figure': 'waiting' }, q.waiting), h('small', {}, t('wb.waiting')),
            h('small', { class: 'by-channel' }, Object.entries(q.waiting_by_channel || {})
              .map(([c, n]) => h('span', { class: 'chip', 'data-channel': c }, `${t(`channel.${c}`)}: ${n}`)))),
          h('div', {}, h('span', { class: 'num' }, duration(q.oldest_wait_seconds)), h('small', {}, t('wb.oldest'))),
          h('div', {}, h('span', { class: 'num' }, q.service_level === null ? '—' : `${q.service_level}%`), h('small', {}, t('wb.level', { t: q.service_level_seconds, g: q.service_level_target })))),
        h('dl', { class: 'small-figures' },
          h('dt', {}, t('wb.answered')), h('dd', { 'data-figure': 'answered' }, q.answered),
          h('dt', {}, t('wb.abandoned')), h('dd', {}, q.abandoned),
          h('dt', {}, t('wb.ewt')), h('dd', {}, duration(q.estimated_wait_seconds)),
          h('dt', {}, t('wb.asa')), h('dd', {}, duration(q.average_answer_seconds)),
          h('dt', {}, t('wb.callbacks')), h('dd', {}, q.callbacks_waiting)),
        h('div', { class: 'states' }, STATES.filter((s) => by[s]).map((s) => h('span', { class: `state st-${s}` }, `${t(`state.${s}`)}: ${by[s]}`))),
        alarms.length ? h('ul', { class: 'alarms', role: 'alert' }, alarms.map((a) => h('li', {}, a))) : null);
    }));
    mount(agents, b.agents.map((a) => h('tr', { 'data-agent': a.agent_id },
      h('td', {}, a.display_name), h('td', {}, a.extension),
      h('td', {}, h('span', { class: `state st-${a.state}`, 'data-state': a.state }, t(`state.${a.state}`)), a.reason ? h('span', { class: 'muted' }, ` ${a.reason}`) : null),
      h('td', {}, duration(a.seconds_in_state)), h('td', {}, a.contacts))));
    if (!settingsBuilt) {
      settingsBuilt = true;
      settings.appendChild(h('div', { class: 'tiles' }, b.queues.map((q) => {
        const th = thresholds(q);
        const inputs = {
          waiting: h('input', { type: 'number', min: 1, value: th.waiting }),
          oldest: h('input', { type: 'number', min: 1, value: th.oldest }),
          level: h('input', { type: 'number', min: 0, max: 100, value: th.level }),
        };
        const saveTh = () => {
          const all = keep.get('hotline.alarms', {});
          all[q.queue_id] = { waiting: Number(inputs.waiting.value), oldest: Number(inputs.oldest.value), level: Number(inputs.level.value) };
          keep.set('hotline.alarms', all);
          if (last) draw(last);
        };
        Object.values(inputs).forEach((i) => i.addEventListener('change', saveTh));
        return h('div', { class: 'card' }, h('h4', {}, q.name),
          field(t('wb.th_waiting'), inputs.waiting), field(t('wb.th_oldest'), inputs.oldest), field(t('wb.th_level'), inputs.level));
      })));
    }
  };
  let busy = false;
  const load = async () => {
    if (busy) return;
    busy = true;
    try {
      last = await get('/wallboard');
      draw(last);
    } catch (e) {
      if (e.status !== 0) ctx.fail(e);
    } finally { busy = false; }
  };
  // The figures come once now, then every second over the live stream (`wallboard`);
  // after a reconnection they are fetched again at once.
  load();
  const off = ctx.on((ev) => {
    if (ev.kind === 'wallboard') { last = ev.data; draw(last); } else if (ev.kind === 'resync') load();
  });
  return () => { off(); };
}

// ---- agents ------------------------------------------------------------------------------------

function agentsList(ctx, body) {
  const rows = h('tbody');
  mount(body, h('section', { class: 'card' }, h('h2', {}, t('sup.agents')),
    h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, [t('col.agent'), t('col.ext'), t('col.state'), t('col.skills'), ''].map((x) => h('th', { scope: 'col' }, x)))), rows)));
  const load = async () => {
    try {
      const [list, board] = await Promise.all([get('/agents'), get('/wallboard').catch(() => ({ agents: [] }))]);
      const states = new Map(board.agents.map((a) => [a.agent_id, a]));
      mount(rows, list.map((a) => {
        const st = states.get(a.id) || { state: 'offline' };
        const skills = h('input', { value: skillsText(a.skills), 'aria-label': t('col.skills'), size: 30 });
        const to = select([['available', t('state.available')], ['not_ready', t('state.not_ready')], ['offline', t('state.offline')]], '', { 'aria-label': t('sup.set_state') });
        return h('tr', {},
          h('td', {}, a.display_name), h('td', {}, a.extension),
          h('td', {}, h('span', { class: `state st-${st.state}` }, t(`state.${st.state}`)), ' ', to,
            h('button', {
              type: 'button', class: 'small', onclick: async () => {
                try { await put(`/agents/${a.id}/presence`, { presence: to.value, reason: to.value === 'not_ready' ? t('reason.supervisor') : null }); ctx.toast(t('saved')); load(); } catch (e) { ctx.fail(e); }
              },
            }, t('sup.apply'))),
          h('td', {}, skills, h('button', {
            type: 'button', class: 'small', onclick: async () => {
              const parsed = parseSkills(skills.value);
              try { await patch(`/agents/${a.id}`, { skills: parsed }); ctx.toast(t('saved')); } catch (e) { ctx.fail(e); }
            },
          }, t('save'))),
          h('td', {}));
      }));
    } catch (e) { ctx.fail(e); }
  };
  load();
  return ctx.on((ev) => { if (ev.kind === 'agent.presence' || ev.kind === 'resync') load(); });
}

// ---- interactions ----------------------------------------------------------------------------------

// On an agent's live call: the supervisor's own phone is rung and joins in the chosen mode
// (asked again, only the mode changes); Stop lets it go.
function monitorBox(ctx, i) {
  if (i.channel !== 'voice' || i.state !== 'active' || !i.agent_id) return null;
  const status = h('p', { class: 'muted', role: 'status' });
  const ask = async (mode) => {
    try {
      if (mode) await post(`/interactions/${i.id}/monitor`, { mode });
      else await del(`/interactions/${i.id}/monitor`);
      status.textContent = mode ? t(`monitor.${mode}.on`) : t('monitor.stopped');
    } catch (e) { ctx.fail(e); }
  };
  return h('div', { class: 'monitor', role: 'group', 'aria-label': t('monitor.title') },
    h('h3', {}, t('monitor.title')),
    h('div', { class: 'actions' },
      ['listen', 'whisper', 'barge'].map((m) => h('button', { type: 'button', 'data-monitor': m, title: t(`monitor.${m}.hint`), onclick: () => ask(m) }, t(`monitor.${m}`))),
      h('button', { type: 'button', 'data-monitor': 'stop', onclick: () => ask(null) }, t('monitor.stop'))),
    status);
}

function interactions(ctx, body, openId) {
  const f = keep.get('hotline.sup.filter', {});
  const from = h('input', { type: 'date', value: f.from || '' });
  const to = h('input', { type: 'date', value: f.to || '' });
  const queue = h('select', {}, h('option', { value: '' }, t('filter.any')));
  const agent = h('select', {}, h('option', { value: '' }, t('filter.any')));
  const disp = h('select', {}, h('option', { value: '' }, t('filter.any')));
  const customer = h('input', { type: 'search', value: f.customer || '', placeholder: t('search.placeholder') });
  const rows = h('tbody');
  const detail = h('div', { id: 'interaction-detail' });
  const names = { queues: new Map(), agents: new Map(), dispositions: new Map() };
  const form = h('form', {
    class: 'filters card', onsubmit: (e) => { e.preventDefault(); load(); },
  }, field(t('filter.from'), from), field(t('filter.to'), to), field(t('filter.queue'), queue), field(t('filter.agent'), agent),
  field(t('filter.disposition'), disp), field(t('filter.customer'), customer), h('button', { type: 'submit', class: 'primary' }, t('search.go')));
  mount(body, form, h('div', { class: 'cols' },
    h('section', { class: 'col card' }, h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, [t('col.when'), t('col.channel'), t('col.queue'), t('col.agent'), t('col.state'), t('col.disposition')].map((x) => h('th', { scope: 'col' }, x)))), rows)),
    h('section', { class: 'col' }, detail)));

  const load = async () => {
    keep.set('hotline.sup.filter', { from: from.value, to: to.value, queue: queue.value, agent: agent.value, disposition: disp.value, customer: customer.value });
    try {
      let customerId = '';
      if (customer.value.trim()) {
        const found = await get(`/customers${qs({ q: customer.value.trim(), limit: 1 })}`);
        if (!found.items.length) { mount(rows, h('tr', {}, h('td', { colspan: 6, class: 'muted' }, t('search.nothing')))); return; }
        customerId = found.items[0].id;
      }
      const day = (v, end) => (v ? new Date(`${v}T00:00:00`).getTime() + (end ? 86400000 : 0) : null);
      const page = await get(`/interactions${qs({
        from: from.value ? new Date(day(from.value)).toISOString() : '', to: to.value ? new Date(day(to.value, true)).toISOString() : '',
        queue_id: queue.value, agent_id: agent.value, disposition_id: disp.value, customer_id: customerId, limit: 100,
      })}`);
      mount(rows, page.items.length ? page.items.map((i) => h('tr', { class: 'clickable', tabindex: 0, 'data-interaction': i.id, onclick: () => open(i.id), onkeydown: (e) => { if (e.key === 'Enter') open(i.id); } },
        h('td', {}, when(i.created_at, lang())), h('td', {}, t(`channel.${i.channel}`)), h('td', {}, names.queues.get(i.queue_id) || ''),
        h('td', {}, names.agents.get(i.agent_id) || ''), h('td', {}, t(`istate.${i.state}`)), h('td', {}, names.dispositions.get(i.disposition_id) || '')))
        : h('tr', {}, h('td', { colspan: 6, class: 'muted' }, t('search.nothing'))));
    } catch (e) { ctx.fail(e); }
  };

  const open = async (id) => {
    if (location.hash !== `#supervisor/interactions/${id}`) history.replaceState(null, '', `#supervisor/interactions/${id}`);
    try {
      const d = await get(`/interactions/${id}`);
      const i = d.interaction;
      mount(detail, h('section', { class: 'card', 'aria-label': t('sup.interaction') },
        h('h2', {}, `${t(`channel.${i.channel}`)} #${i.id}`),
        h('dl', { class: 'fields' },
          h('dt', {}, t('col.when')), h('dd', {}, when(i.created_at, lang())),
          h('dt', {}, t('col.state')), h('dd', {}, t(`istate.${i.state}`)),
          h('dt', {}, t('col.queue')), h('dd', {}, names.queues.get(i.queue_id) || '—'),
          h('dt', {}, t('col.agent')), h('dd', {}, names.agents.get(i.agent_id) || '—'),
          h('dt', {}, t('col.disposition')), h('dd', {}, names.dispositions.get(i.disposition_id) || '—')),
        i.notes ? h('p', { class: 'note' }, i.notes) : null,
        monitorBox(ctx, i),
        i.recording_ref ? h('div', { class: 'recording' }, h('h3', {}, t('sup.recording')),
          h('audio', { controls: true, preload: 'metadata', src: `/api/v1/interactions/${i.id}/recording`, 'aria-label': t('sup.recording') })) : null,
        h('h3', {}, t('timeline.events')),
        h('ol', { class: 'events' }, d.events.map((e) => h('li', {}, h('time', {}, when(e.at, lang())), ' ', h('strong', {}, e.kind), ' · ', e.actor,
          Object.keys(e.data || {}).length ? h('code', { class: 'data' }, JSON.stringify(e.data)) : null)))));
    } catch (e) { ctx.fail(e); }
  };

  (async () => {
    try {
      const [qs1, ags, ds] = await Promise.all([get('/queues'), get('/agents'), get('/dispositions')]);
      qs1.forEach((q) => { names.queues.set(q.id, q.name); queue.appendChild(h('option', { value: q.id, selected: String(q.id) === f.queue }, q.name)); });
      ags.forEach((a) => { names.agents.set(a.id, a.display_name); agent.appendChild(h('option', { value: a.id, selected: String(a.id) === f.agent }, a.display_name)); });
      ds.forEach((d) => { names.dispositions.set(d.id, d.name); disp.appendChild(h('option', { value: d.id, selected: String(d.id) === f.disposition }, d.name)); });
    } catch (e) { ctx.fail(e); }
    await load();
    if (openId) open(Number(openId));
  })();
  return null;
}
