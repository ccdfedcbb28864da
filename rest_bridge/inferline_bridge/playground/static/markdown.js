// A small Markdown renderer that builds DOM nodes from text: model output never becomes HTML.
//
// Blocks: fenced code (an open fence while streaming still renders as code), headings, lists,
// block quotes, paragraphs. Inline: code spans, bold, italics and http(s) links. Everything
// else stays literal text, markup included.

const FENCE = /^\s*(```|~~~)\s*([\w+#.-]*)\s*$/;
const HEADING = /^(#{1,6})\s+(.*)$/;
const BULLET = /^\s*[-*+]\s+(.*)$/;
const NUMBERED = /^\s*\d{1,9}[.)]\s+(.*)$/;
const QUOTE = /^\s*>\s?(.*)$/;
const INLINE =
  /(`+)([\s\S]*?)\1|\*\*(?=\S)([\s\S]*?\S)\*\*|__(?=\S)([\s\S]*?\S)__|\*(?=\S)([^*]*?\S)\*|\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)/g;

function el(tag, ...children) {
  const node = document.createElement(tag);
  node.append(...children);
  return node;
}

/** Inline markup of ``text`` as a list of nodes (text nodes for everything literal). */
export function inline(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
    const [, ticks, code, bold, bold2, italic, label, href] = match;
    if (ticks) nodes.push(el("code", code));
    else if (bold !== undefined || bold2 !== undefined) nodes.push(el("strong", ...inline(bold ?? bold2)));
    else if (italic !== undefined) nodes.push(el("em", ...inline(italic)));
    else {
      const link = el("a", label);
      link.href = href;
      link.rel = "noopener noreferrer";
      link.target = "_blank";
      nodes.push(link);
    }
    last = match.index + match[0].length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

function paragraph(lines) {
  const node = el("p");
  lines.forEach((line, index) => {
    if (index) node.append(el("br"));
    node.append(...inline(line));
  });
  return node;
}

function codeBlock(lines, language) {
  const code = el("code", lines.join("\n"));
  if (language) code.dataset.language = language;
  return el("pre", code);
}

/** Collect the run of lines from ``start`` that match ``pattern``; returns [items, next]. */
function run(lines, start, pattern) {
  const items = [];
  let index = start;
  while (index < lines.length) {
    const match = lines[index].match(pattern);
    if (!match) break;
    items.push(match[1]);
    index += 1;
  }
  return [items, index];
}

/** The blocks of ``text`` as DOM nodes. */
export function blocks(text) {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  const out = [];
  let index = 0;
  while (index < lines.length) {
    const line = lines[index];
    const fence = line.match(FENCE);
    if (fence) {
      const body = [];
      index += 1;
      while (index < lines.length && !lines[index].trim().startsWith(fence[1])) body.push(lines[index++]);
      index += 1; // the closing fence, if it came yet
      out.push(codeBlock(body, fence[2]));
      continue;
    }
    if (!line.trim()) {
      index += 1;
      continue;
    }
    const heading = line.match(HEADING);
    if (heading) {
      // Inside a chat message, page headings start at h3.
      const level = Math.min(6, heading[1].length + 2);
      out.push(el(`h${level}`, ...inline(heading[2])));
      index += 1;
      continue;
    }
    let items;
    for (const [pattern, tag] of [[BULLET, "ul"], [NUMBERED, "ol"]]) {
      if (!items && pattern.test(line)) {
        [items, index] = run(lines, index, pattern);
        out.push(el(tag, ...items.map((item) => el("li", ...inline(item)))));
      }
    }
    if (items) continue;
    if (QUOTE.test(line)) {
      [items, index] = run(lines, index, QUOTE);
      out.push(el("blockquote", ...blocks(items.join("\n"))));
      continue;
    }
    const para = [lines[index++]];
    while (
      index < lines.length &&
      lines[index].trim() &&
      ![FENCE, HEADING, BULLET, NUMBERED, QUOTE].some((pattern) => pattern.test(lines[index]))
    ) {
      para.push(lines[index++]);
    }
    out.push(paragraph(para));
  }
  return out;
}

/** Replace the contents of ``container`` with ``text`` rendered as Markdown. */
export function render(container, text) {
  container.replaceChildren(...blocks(text));
}
