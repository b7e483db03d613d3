// The workplace's shell: log-in, the top bar (sections by role, language, connection, log-out),
// the live stream shared by every section, keyboard shortcuts, and hash routing
// (#desk, #supervisor/…, #admin/…).

import { h, mount, keep } from './dom.js';
import { get, post, whenUnauthorized, Live, ApiError } from './api.js';
import { t, lang, setLang } from './i18n.js';
import { deskView } from './desk.js';
import { supervisorView } from './supervisor.js';
import { adminView } from './admin.js';

const root = document.getElementById('app');
const SESSION = 'hotline.session';

const ctx = {
  me: null,
  live: null,
  online: false,
  listeners: new Set(),
  cleanup: null,
  /** Subscribes to live events; returns the unsubscribe. */
  on(f) { this.listeners.add(f); return () => this.listeners.delete(f); },
  isSupervisor() { return this.me && (this.me.user.role === 'supervisor' || this.me.user.role === 'admin'); },
  isAdmin() { return this.me && this.me.user.role === 'admin'; },
  toast(message, kind = 'info') {
    const box = document.getElementById('toasts');
    if (!box) return;
    const el = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
    box.appendChild(el);
    setTimeout(() => el.remove(), kind === 'error' ? 8000 : 4000);
  },
  /** Shows an API failure in the user's language. */
  fail(e) {
    const known = e instanceof ApiError && t(`error.${e.code}`, {}, null);
    this.toast(known || (e && e.message) || String(e), 'error');
  },
};

whenUnauthorized(() => {
  keep.drop(SESSION);
  if (ctx.me) {
    ctx.me = null;
    stopLive();
    showLogin(t('login.expired'));
  }
});

function stopLive() {
  if (ctx.live) ctx.live.close();
  ctx.live = null;
}

function startLive() {
  stopLive();
  ctx.live = new Live({
    onEvent: (ev) => ctx.listeners.forEach((f) => f(ev)),
    onStatus: (up) => {
      ctx.online = up;
      document.body.classList.toggle('offline', !up);
      const b = document.getElementById('conn');
      if (b) {
        b.textContent = up ? t('conn.online') : t('conn.lost');
        b.className = up ? 'conn ok' : 'conn lost';
      }
    },
    onResync: () => ctx.listeners.forEach((f) => f({ kind: 'resync', data: {} })),
  });
}

function showLogin(message) {
  document.documentElement.lang = lang();
  if (ctx.cleanup) { ctx.cleanup(); ctx.cleanup = null; }
  const user = h('input', { name: 'username', autocomplete: 'username', required: true, autofocus: true });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { class: 'error', role: 'alert', hidden: !message }, message || '');
  const form = h('form', {
    class: 'login card',
    'aria-label': t('login.title'),
    onsubmit: async (e) => {
      e.preventDefault();
      error.hidden = true;
      try {
        await post('/auth/login', { username: user.value.trim(), password: pass.value });
        keep.set(SESSION, 1);
        await start();
      } catch (err) {
        error.textContent = err.code === 'invalid_credentials' ? t('login.wrong')
          : err.code === 'rate_limited' ? t('login.limited') : (err.message || String(err));
        error.hidden = false;
      }
    },
  },
  h('h1', {}, 'Hotline'),
  h('p', { class: 'muted' }, t('login.subtitle')),
  h('div', { class: 'field' }, h('label', { for: 'login-user' }, t('login.username')), Object.assign(user, { id: 'login-user' })),
  h('div', { class: 'field' }, h('label', { for: 'login-pass' }, t('login.password')), Object.assign(pass, { id: 'login-pass' })),
  error,
  h('button', { type: 'submit', class: 'primary' }, t('login.submit')),
  langSwitch(() => showLogin()));
  mount(root, h('main', { class: 'login-page' }, form));
  user.focus();
}

function langSwitch(rerender) {
  return h('div', { class: 'lang', role: 'group', 'aria-label': t('lang.label') },
    ['ru', 'en'].map((l) => h('button', {
      type: 'button', class: l === lang() ? 'on' : '', 'aria-pressed': String(l === lang()),
      onclick: () => { setLang(l); rerender(); },
    }, l === 'ru' ? 'RU' : 'EN')));
}

function sections() {
  const s = [];
  if (ctx.me.agent) s.push(['desk', t('nav.desk')]);
  if (ctx.isSupervisor()) s.push(['supervisor', t('nav.supervisor')]);
  if (ctx.isAdmin()) s.push(['admin', t('nav.admin')]);
  return s;
}

function route() {
  const [section, ...rest] = location.hash.replace(/^#\/?/, '').split('/');
  const allowed = sections().map(([k]) => k);
  return { section: allowed.includes(section) ? section : allowed[0], rest };
}

function layout() {
  document.documentElement.lang = lang();
  if (ctx.cleanup) { ctx.cleanup(); ctx.cleanup = null; }
  const { section, rest } = route();
  const main = h('main', { id: 'main', tabindex: '-1' });
  const nav = h('nav', { 'aria-label': t('nav.label') },
    sections().map(([k, label], i) => h('a', {
      href: `#${k}`, class: k === section ? 'on' : '', 'aria-current': k === section ? 'page' : null,
      title: `${label} (Alt+${i + 1})`,
    }, label)));
  const conn = h('span', { id: 'conn', class: ctx.online ? 'conn ok' : 'conn lost', role: 'status' },
    ctx.online ? t('conn.online') : t('conn.lost'));
  const header = h('header', { class: 'top' },
    h('strong', { class: 'brand' }, 'Hotline'),
    h('span', { class: 'tenant' }, ctx.me.tenant.name),
    nav,
    h('span', { class: 'spacer' }),
    conn,
    langSwitch(layout),
    h('span', { class: 'who' }, ctx.me.user.display_name),
    h('button', { type: 'button', onclick: logout, title: t('logout.one') }, t('logout.one')),
    h('button', { type: 'button', onclick: logoutAll, title: t('logout.all') }, t('logout.all')));
  mount(root, header, h('div', { id: 'banner-lost', class: 'banner', role: 'alert' }, t('conn.banner')), main,
    h('div', { id: 'toasts', class: 'toasts', 'aria-live': 'polite' }));
  document.body.classList.toggle('offline', !ctx.online);
  const view = section === 'desk' ? deskView : section === 'supervisor' ? supervisorView : adminView;
  ctx.cleanup = view(ctx, main, rest) || null;
}

async function logout() {
  try { await post('/auth/logout'); } catch { /* the session may be gone already */ }
  keep.drop(SESSION);
  ctx.me = null;
  stopLive();
  showLogin();
}

async function logoutAll() {
  try { await post('/auth/logout-all'); } catch { /* the session may be gone already */ }
  keep.drop(SESSION);
  ctx.me = null;
  stopLive();
  showLogin(t('logout.done_all'));
}

async function start() {
  try {
    ctx.me = await get('/auth/me');
  } catch (e) {
    if (e.status !== 401) ctx.toast(e.message, 'error');
    keep.drop(SESSION);
    showLogin(e.status === 401 ? t('login.expired') : e.message);
    return;
  }
  startLive();
  if (!location.hash) location.hash = `#${route().section}`;
  layout();
}

window.addEventListener('hashchange', () => { if (ctx.me) layout(); });

document.addEventListener('keydown', (e) => {
  if (!ctx.me || !e.altKey || e.ctrlKey || e.metaKey) return;
  const n = Number(e.key);
  const s = sections();
  if (n >= 1 && n <= s.length) {
    e.preventDefault();
    location.hash = `#${s[n - 1][0]}`;
  }
});

// The session cookie is HttpOnly: the page remembers only that it logged in, so a fresh
// browser goes straight to the log-in form without asking the server.
if (keep.get(SESSION, 0)) start(); else showLogin();
