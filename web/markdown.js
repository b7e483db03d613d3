// A small Markdown renderer for scripts (the client company's instructions): headings,
// paragraphs, **bold**, *italic*, `code`, links, ordered and unordered lists, rules, quotes.
// It builds DOM nodes, never HTML text, so a script cannot inject markup or code.

import { h } from './dom.js';

function inline(text) {
  const out = [];
  const re = /(\*\*([^*]+)\*\*|\*([^*]+)\*|`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\))/g;
  let last = 0;
  for (let m; (m = re.exec(text));) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[2] !== undefined) out.push(h('strong', {}, m[2]));
    else if (m[3] !== undefined) out.push(h('em', {}, m[3]));
    else if (m[4] !== undefined) out.push(h('code', {}, m[4]));
    else {
      const safe = /^(https?:|mailto:|tel:)/i.test(m[6]);
      out.push(safe ? h('a', { href: m[6], target: '_blank', rel: 'noopener noreferrer' }, m[5]) : m[5]);
    }
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

export function renderMarkdown(source) {
  const root = h('div', { class: 'md' });
  const lines = String(source || '').replace(/\r\n?/g, '\n').split('\n');
  let para = [];
  let list = null;
  const flush = () => {
    if (para.length) root.appendChild(h('p', {}, inline(para.join(' '))));
    para = [];
  };
  const endList = () => { list = null; };
  for (const raw of lines) {
    const line = raw.trimEnd();
    let m;
    if (!line.trim()) { flush(); endList(); continue; }
    if ((m = /^(#{1,4})\s+(.*)$/.exec(line))) {
      flush(); endList();
      root.appendChild(h(`h${Math.min(m[1].length + 2, 6)}`, {}, inline(m[2])));
    } else if (/^(-{3,}|\*{3,})$/.test(line.trim())) {
      flush(); endList();
      root.appendChild(h('hr'));
    } else if ((m = /^\s*(\d+)[.)]\s+(.*)$/.exec(line)) || (m = /^\s*[-*+]\s+(.*)$/.exec(line))) {
      flush();
      const ordered = m.length === 3;
      const tag = ordered ? 'ol' : 'ul';
      if (!list || list.tagName.toLowerCase() !== tag) {
        list = h(tag);
        root.appendChild(list);
      }
      list.appendChild(h('li', {}, inline(ordered ? m[2] : m[1])));
    } else if ((m = /^>\s?(.*)$/.exec(line))) {
      flush(); endList();
      root.appendChild(h('blockquote', {}, inline(m[1])));
    } else {
      endList();
      para.push(line.trim());
    }
  }
  flush();
  return root;
}
