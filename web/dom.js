// Small DOM helpers: elements are built in code, text is always set as text (never HTML), so
// nothing a customer typed can run in the page.

/** h('button', {class: 'x', onclick: fn, 'aria-label': '…'}, 'text', child…) */
export function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked' || k === 'selected' || k === 'disabled' || k === 'hidden') el[k] = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, kids);
  return el;
}

function append(el, kids) {
  for (const k of kids) {
    if (k === undefined || k === null || k === false) continue;
    if (Array.isArray(k)) append(el, k);
    else if (k instanceof Node) el.appendChild(k);
    else el.appendChild(document.createTextNode(String(k)));
  }
}

/** Replaces an element's children. */
export function mount(el, ...kids) {
  el.replaceChildren();
  append(el, kids);
  return el;
}

export function two(n) { return String(n).padStart(2, '0'); }

/** 75 → "1:15", 3700 → "1:01:40" */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  return hh ? `${hh}:${two(mm)}:${two(ss)}` : `${mm}:${two(ss)}`;
}

export function when(iso, lang) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleString(lang === 'ru' ? 'ru-RU' : 'en-GB', {
    day: '2-digit', month: '2-digit', year: 'numeric', hour: '2-digit', minute: '2-digit',
  });
}

/** A labelled form field: label above, control below. */
export function field(label, control, hint) {
  const id = control.id || `f${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hint ? h('small', { class: 'hint' }, hint) : null);
}

export function select(options, value, props = {}) {
  return h('select', props, options.map(([v, text]) => h('option', { value: String(v), selected: String(v) === String(value ?? '') }, text)));
}

/** Stored per browser: drafts, open tabs, settings. Values are JSON. */
export const keep = {
  get(key, fallback) {
    try { const v = localStorage.getItem(key); return v === null ? fallback : JSON.parse(v); } catch { return fallback; }
  },
  set(key, value) { try { localStorage.setItem(key, JSON.stringify(value)); } catch { /* full or blocked: the draft stays on screen */ } },
  drop(key) { try { localStorage.removeItem(key); } catch { /* ignore */ } },
};

/** Skills as people type them: `cards:4, language.en:2` (a level left out is 1). */
export const skillsText = (skills) => skills.map((s) => `${s.name}:${s.proficiency}`).join(', ');

/**
 * The typed text as the API's skills. A level that is not a number is sent as typed, so the
 * server refuses it with a clear error instead of the page guessing a level.
 */
export const parseSkills = (text) => text.split(',').map((x) => x.trim()).filter(Boolean).map((x) => {
  const [name, level] = x.split(':');
  const n = level === undefined ? 1 : Number(level.trim());
  return { name: name.trim(), proficiency: Number.isInteger(n) ? n : level.trim() };
});
