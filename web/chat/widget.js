// Hotline chat widget. A company puts one tag on its pages:
//   <script src="https://HOTLINE/chat/widget.js" data-site="SITE_KEY" async></script>
// (optional: data-lang="ru|en"). No build step, no dependencies; everything lives in a shadow
// root so the page's styles and ours do not meet.
//
// Nothing the visitor writes is lost: a message goes into an outbox kept in localStorage and
// leaves it only when the server acknowledges it stored (`ack` with the widget's id for it).
// After a reconnect (network gone, server restarted) the widget says which message it saw
// last, gets everything after it, and sends its outbox again; the server stores a resent
// message once.
(() => {
  'use strict';
  const script = document.currentScript;
  if (!script || !script.dataset.site) return;
  const site = script.dataset.site;
  const base = new URL(script.src, location.href).origin;
  const api = `${base}/api/v1/public`;
  const lang = (script.dataset.lang || navigator.language || 'ru').toLowerCase().startsWith('en') ? 'en' : 'ru';
  const T = {
    ru: {
      open: 'Чат', title: 'Напишите нам', name: 'Имя', email: 'E-mail', phone: 'Телефон', message: 'Сообщение',
      start: 'Начать чат', send: 'Отправить', offline: 'Сейчас нет свободных операторов. Оставьте сообщение — мы ответим на e-mail.',
      leave: 'Оставить сообщение', left: 'Спасибо! Мы ответим вам на e-mail.', unavailable: 'Чат сейчас недоступен.',
      queue: (p, w) => `Вы ${p}-й в очереди${w != null ? `, ожидание около ${Math.max(1, Math.round(w / 60))} мин` : ''}.`,
      agent: (n) => `${n} присоединился(-ась) к чату.`, typing: (n) => `${n} печатает…`, end: 'Завершить чат',
      transcript: 'Прислать переписку на e-mail', ended: 'Чат завершён.', again: 'Новый чат', pending: 'не доставлено',
      reconnecting: 'Нет связи, переподключаемся…', file: 'Файл', close: 'Свернуть', failed: 'Не отправлено',
    },
    en: {
      open: 'Chat', title: 'Talk to us', name: 'Name', email: 'E-mail', phone: 'Phone', message: 'Message',
      start: 'Start chat', send: 'Send', offline: 'No agent is free right now. Leave a message and we will answer by e-mail.',
      leave: 'Leave a message', left: 'Thank you! We will answer you by e-mail.', unavailable: 'Chat is not available now.',
      queue: (p, w) => `You are number ${p} in the queue${w != null ? `, about ${Math.max(1, Math.round(w / 60))} min to wait` : ''}.`,
      agent: (n) => `${n} joined the chat.`, typing: (n) => `${n} is typing…`, end: 'End chat',
      transcript: 'Send me the transcript by e-mail', ended: 'The chat has ended.', again: 'New chat', pending: 'not delivered yet',
      reconnecting: 'Connection lost, reconnecting…', file: 'File', close: 'Minimise', failed: 'Not sent',
    },
  }[lang];

  // ---- state kept across pages and reloads ----
  const KEY = `hotline-chat:${site}`;
  const load = () => { try { return JSON.parse(localStorage.getItem(KEY)) || {}; } catch { return {}; } };
  let st = Object.assign({ token: null, last: 0, outbox: [], messages: [], open: false }, load());
  const save = () => { try { localStorage.setItem(KEY, JSON.stringify(st)); } catch { /* private mode: kept in memory */ } };
  const newId = () => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;

  // ---- the elements ----
  const host = document.createElement('div');
  host.id = 'hotline-chat';
  const root = host.attachShadow({ mode: 'open' });
  const el = (tag, attrs = {}, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (v === true) e.setAttribute(k, '');
      else if (v !== false && v != null) e.setAttribute(k, v);
    }
    for (const c of kids.flat()) if (c != null) e.append(c.nodeType ? c : document.createTextNode(String(c)));
    return e;
  };
  root.append(el('style', {}, `
    :host { all: initial; font: 14px/1.4 system-ui, sans-serif; color: #1d2330; }
    [hidden] { display: none !important; }
    .launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; border: 0; border-radius: 24px;
      padding: 12px 20px; background: #1f5fbf; color: #fff; font: inherit; cursor: pointer; box-shadow: 0 4px 14px rgba(0,0,0,.25); }
    .panel { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; width: 340px; max-width: calc(100vw - 40px);
      height: 480px; max-height: calc(100vh - 40px); display: flex; flex-direction: column; background: #fff;
      border-radius: 12px; box-shadow: 0 6px 24px rgba(0,0,0,.3); overflow: hidden; }
    header { background: #1f5fbf; color: #fff; padding: 10px 14px; display: flex; align-items: center; gap: 8px; }
    header strong { flex: 1; }
    header button { background: transparent; color: #fff; border: 0; font: inherit; cursor: pointer; }
    .body { flex: 1; overflow: auto; padding: 10px; display: flex; flex-direction: column; gap: 6px; }
    .msg { max-width: 85%; padding: 6px 10px; border-radius: 10px; background: #eef2f8; white-space: pre-wrap; overflow-wrap: anywhere; }
    .msg.visitor { align-self: flex-end; background: #dbe8ff; }
    .msg.pending { opacity: .6; }
    .msg .who { display: block; font-size: 12px; color: #566; }
    .note { align-self: center; font-size: 12px; color: #566; text-align: center; }
    form { display: flex; flex-direction: column; gap: 6px; padding: 10px; }
    input, textarea { font: inherit; padding: 6px; border: 1px solid #b9c2d0; border-radius: 6px; }
    .bar { display: flex; gap: 6px; padding: 8px; border-top: 1px solid #dde3ec; align-items: flex-end; }
    .bar textarea { flex: 1; resize: none; }
    button.primary { background: #1f5fbf; color: #fff; border: 0; border-radius: 6px; padding: 7px 12px; font: inherit; cursor: pointer; }
    button.plain { background: #fff; border: 1px solid #b9c2d0; border-radius: 6px; padding: 6px 10px; font: inherit; cursor: pointer; }
    .files a { color: #1f5fbf; cursor: pointer; text-decoration: underline; }
    .hp { position: absolute; left: -10000px; width: 1px; height: 1px; overflow: hidden; }
  `));
  const launcher = el('button', { class: 'launcher', id: 'open', type: 'button', onclick: () => { st.open = true; save(); show(); } }, T.open);
  const panel = el('div', { class: 'panel', id: 'panel', role: 'dialog', 'aria-label': T.title, hidden: true });
  root.append(launcher, panel);
  document.body.appendChild(host);

  let status = null;
  let ws = null;
  let backoff = 1000;
  let typingTimer = null;
  let lastTyping = 0;
  let agentName = null;
  let queueNote = null;
  let connNote = null;
  let canTranscript = false;

  const header = () => el('header', {}, el('strong', {}, status ? status.name : T.title),
    el('button', { type: 'button', id: 'minimise', 'aria-label': T.close, onclick: () => { st.open = false; save(); show(); } }, '—'));

  function show() {
    launcher.hidden = st.open;
    panel.hidden = !st.open;
    if (!st.open) return;
    if (st.token) chatView();
    else if (status && status.chat && status.online) preChat();
    else if (status && status.messages) offlineForm();
    else panel.replaceChildren(header(), el('div', { class: 'body' }, el('p', { class: 'note' }, T.unavailable)));
  }

  async function call(path, body) {
    const res = await fetch(`${api}${path}`, {
      method: body ? 'POST' : 'GET',
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((data.error && data.error.message) || res.statusText);
    return data;
  }

  function fields(withPhone) {
    return [
      el('input', { name: 'name', id: 'name', required: true, placeholder: T.name, 'aria-label': T.name, autocomplete: 'name' }),
      el('input', { name: 'email', id: 'email', type: 'email', placeholder: T.email, 'aria-label': T.email, autocomplete: 'email' }),
      withPhone ? el('input', { name: 'phone', id: 'phone', type: 'tel', placeholder: T.phone, 'aria-label': T.phone, autocomplete: 'tel' }) : null,
      el('input', { name: 'website', class: 'hp', tabindex: '-1', autocomplete: 'off', 'aria-hidden': 'true' }),
      el('textarea', { name: 'text', id: 'text', rows: '3', placeholder: T.message, 'aria-label': T.message }),
    ];
  }
  const value = (form, name) => (form.elements[name] && form.elements[name].value.trim()) || null;

  function preChat() {
    const err = el('p', { class: 'note', id: 'error', role: 'alert' });
    const form = el('form', { id: 'prechat', onsubmit: async (e) => {
      e.preventDefault();
      if (value(form, 'website')) return;
      try {
        const r = await call(`/sites/${encodeURIComponent(site)}/chats`, {
          name: value(form, 'name') || '', email: value(form, 'email'), phone: value(form, 'phone'), text: value(form, 'text'),
        });
        st = { token: r.token, last: 0, outbox: [], messages: [], open: true };
        save();
        show();
        connect();
      } catch (x) { err.textContent = x.message; }
    } }, status.greeting ? el('p', {}, status.greeting) : null, fields(true), err,
    el('button', { class: 'primary', type: 'submit', id: 'start' }, T.start));
    panel.replaceChildren(header(), el('div', { class: 'body' }, form));
  }

  function offlineForm() {
    const err = el('p', { class: 'note', id: 'error', role: 'alert' });
    const form = el('form', { id: 'offline', onsubmit: async (e) => {
      e.preventDefault();
      try {
        await call(`/sites/${encodeURIComponent(site)}/messages`, {
          name: value(form, 'name') || '', email: value(form, 'email'), text: value(form, 'text') || '', website: value(form, 'website'),
        });
        panel.replaceChildren(header(), el('div', { class: 'body' }, el('p', { class: 'note', id: 'left' }, T.left)));
      } catch (x) { err.textContent = x.message; }
    } }, el('p', {}, T.offline), fields(false), err, el('button', { class: 'primary', type: 'submit', id: 'leave' }, T.leave));
    form.elements.email.required = true;
    form.elements.text.required = true;
    panel.replaceChildren(header(), el('div', { class: 'body' }, form));
  }

  // ---- the conversation ----
  let log = null;
  let input = null;
  let notes = null;

  function fileLink(f) {
    return el('a', { 'data-file': f.id, onclick: async () => {
      const res = await fetch(`${api}/chat/files/${f.id}`, { headers: { 'x-chat-token': st.token } });
      if (!res.ok) return;
      const url = URL.createObjectURL(await res.blob());
      const a = el('a', { href: url, download: f.name });
      root.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } }, `${T.file}: ${f.name}`);
  }

  function bubble(m, pending) {
    return el('div', { class: `msg ${m.from}${pending ? ' pending' : ''}`, 'data-id': m.id || '', 'data-client': m.client_id || '' },
      m.from !== 'visitor' ? el('span', { class: 'who' }, m.name) : null,
      m.text || null,
      m.attachments && m.attachments.length ? el('div', { class: 'files' }, m.attachments.map(fileLink)) : null,
      pending ? el('span', { class: 'who' }, T.pending) : null);
  }

  function note(text, id) {
    if (!log) return null;
    const n = el('p', { class: 'note', id }, text);
    log.append(n);
    log.scrollTop = log.scrollHeight;
    return n;
  }

  function redraw() {
    if (!log) return;
    log.replaceChildren(
      ...st.messages.map((m) => bubble(m, false)),
      ...st.outbox.map((o) => bubble({ from: 'visitor', text: o.text, client_id: o.client_id }, true)),
    );
    if (queueNote) log.append(queueNote);
    if (connNote) log.append(connNote);
    if (notes) log.append(notes);
    log.scrollTop = log.scrollHeight;
  }

  function remember(m) {
    if (st.messages.some((x) => x.id === m.id)) return false;
    st.messages.push(m);
    st.messages.sort((a, b) => a.id - b.id);
    if (st.messages.length > 500) st.messages.splice(0, st.messages.length - 500);
    st.last = Math.max(st.last, m.id);
    save();
    return true;
  }

  function chatView() {
    log = el('div', { class: 'body', id: 'log', role: 'log', 'aria-live': 'polite' });
    notes = el('p', { class: 'note', id: 'typing', hidden: true });
    input = el('textarea', { id: 'input', rows: '2', 'aria-label': T.message, placeholder: T.message });
    input.addEventListener('keydown', (e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); sendText(); } });
    input.addEventListener('input', () => {
      const now = Date.now();
      if (ws && ws.readyState === 1 && now - lastTyping > 2000) { lastTyping = now; ws.send(JSON.stringify({ type: 'typing' })); }
    });
    const file = el('input', { type: 'file', id: 'file', hidden: true, onchange: () => { if (file.files[0]) sendFile(file.files[0]); file.value = ''; } });
    const transcript = el('input', { type: 'checkbox', id: 'transcript' });
    const endBox = el('div', { class: 'bar', id: 'endbar' },
      el('label', { hidden: !canTranscript, id: 'transcript-label' }, transcript, ' ', T.transcript),
      el('button', { class: 'plain', type: 'button', id: 'end', onclick: () => {
        if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: 'end', transcript: transcript.checked }));
      } }, T.end));
    panel.replaceChildren(header(), log,
      el('div', { class: 'bar' }, input,
        el('button', { class: 'plain', type: 'button', id: 'attach', title: T.file, onclick: () => file.click() }, T.file), file,
        el('button', { class: 'primary', type: 'button', id: 'send', onclick: sendText }, T.send)),
      endBox);
    redraw();
  }

  function ended() {
    if (ws) { ws.onclose = null; ws.close(); ws = null; }
    st.token = null;
    st.outbox = [];
    save();
    queueNote = null;
    if (!log) return;
    const again = el('button', { class: 'primary', type: 'button', id: 'again', onclick: () => {
      st = { token: null, last: 0, outbox: [], messages: [], open: true };
      save();
      show();
    } }, T.again);
    panel.replaceChildren(header(), log, el('div', { class: 'bar' }, el('span', { class: 'note', id: 'ended' }, T.ended), again));
    log.scrollTop = log.scrollHeight;
  }

  function sendText() {
    const text = input.value.trim();
    if (!text) return;
    const o = { client_id: newId(), text };
    st.outbox.push(o);
    save();
    input.value = '';
    redraw();
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: 'message', client_id: o.client_id, text: o.text }));
  }

  async function sendFile(f) {
    const id = newId();
    try {
      const res = await fetch(`${api}/chat/files?client_id=${encodeURIComponent(id)}&name=${encodeURIComponent(f.name)}`, {
        method: 'POST', headers: { 'x-chat-token': st.token, 'content-type': f.type || 'application/octet-stream' }, body: f,
      });
      const m = await res.json();
      if (!res.ok) throw new Error((m.error && m.error.message) || res.statusText);
      if (remember(m)) redraw();
    } catch (x) { note(`${T.failed}: ${f.name} — ${x.message}`); }
  }

  function connect() {
    if (!st.token || ws) return;
    const url = `${base.replace(/^http/, 'ws')}/api/v1/public/chat`;
    const sock = new WebSocket(url);
    ws = sock;
    sock.onopen = () => sock.send(JSON.stringify({ type: 'hello', token: st.token, after: st.last }));
    sock.onmessage = (ev) => {
      let f;
      try { f = JSON.parse(ev.data); } catch { return; }
      switch (f.type) {
        case 'welcome':
          backoff = 1000;
          connNote = null;
          canTranscript = !!(f.transcript && status && status.messages);
          if (root.getElementById('transcript-label')) root.getElementById('transcript-label').hidden = !canTranscript;
          f.messages.forEach(remember);
          agentName = f.agent;
          if (f.ended) { redraw(); ended(); return; }
          queueNote = f.agent ? el('p', { class: 'note', id: 'agent' }, T.agent(f.agent)) : queueNote;
          redraw();
          // Everything not acknowledged goes again; the server stores each once.
          st.outbox.forEach((o) => sock.send(JSON.stringify({ type: 'message', client_id: o.client_id, text: o.text })));
          break;
        case 'ack':
          st.outbox = st.outbox.filter((o) => o.client_id !== f.client_id);
          remember(f.message);
          save();
          redraw();
          break;
        case 'message':
          if (remember(f.message)) {
            if (notes) notes.hidden = true;
            redraw();
          }
          break;
        case 'queue':
          if (!agentName) { queueNote = el('p', { class: 'note', id: 'queue' }, T.queue(f.position, f.wait_seconds)); redraw(); }
          break;
        case 'agent':
          agentName = f.name;
          queueNote = el('p', { class: 'note', id: 'agent' }, T.agent(f.name));
          redraw();
          break;
        case 'typing':
          if (notes) {
            notes.textContent = T.typing(f.name);
            notes.hidden = false;
            clearTimeout(typingTimer);
            typingTimer = setTimeout(() => { notes.hidden = true; }, 4000);
            redraw();
          }
          break;
        case 'ended':
          ended();
          break;
        case 'error':
          if (f.client_id) {
            // Refused for good (the chat ended, the text too long): not sent again.
            st.outbox = st.outbox.filter((o) => o.client_id !== f.client_id);
            save();
            redraw();
            note(`${T.failed}: ${f.message}`);
          } else if (f.code === 'unknown_chat' || f.code === 'chat_ended') {
            ended();
          }
          break;
        default:
      }
    };
    sock.onclose = () => {
      if (ws !== sock) return;
      ws = null;
      if (!st.token) return;
      connNote = el('p', { class: 'note', id: 'offline-note', role: 'status' }, T.reconnecting);
      redraw();
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
  }

  // ---- start ----
  const boot = async () => {
    try { status = await call(`/sites/${encodeURIComponent(site)}`); } catch { status = null; }
    show();
    if (st.token) connect();
  };
  boot();
})();
