// The config editor: a plain <textarea> over a highlighted copy of its
// text (built from text nodes, never HTML), and a check of the content
// against its type by the server, which parses it with the format's own
// parser and says where it breaks.

N.TYPES = ['text', 'json', 'xml', 'yaml', 'html', 'properties', 'toml'];

// Token rules per type: [class, regex source without capturing groups].
const RULES = {
  json: [
    ['key', '"(?:[^"\\\\\\n]|\\\\.)*"(?=\\s*:)'],
    ['str', '"(?:[^"\\\\\\n]|\\\\.)*"'],
    ['num', '-?\\b\\d+(?:\\.\\d+)?(?:[eE][+-]?\\d+)?\\b'],
    ['kw', '\\b(?:true|false|null)\\b'],
    ['punct', '[{}\\[\\],:]'],
  ],
  yaml: [
    ['com', '#.*'],
    ['key', '^[ \\t]*(?:- )?[^\\s#:][^:\\n#]*(?=:(?:\\s|$))'],
    ['str', '"(?:[^"\\\\\\n]|\\\\.)*"|\'[^\'\\n]*\''],
    ['num', '\\b\\d+(?:\\.\\d+)?\\b'],
    ['kw', '\\b(?:true|false|null|yes|no|on|off)\\b|~'],
    ['punct', '^---$|[\\[\\]{}]'],
  ],
  properties: [
    ['com', '^[ \\t]*[#!].*'],
    ['key', '^[ \\t]*[^\\s=:#!][^=:\\n]*?(?=[ \\t]*[=:])'],
    ['punct', '[=:]'],
  ],
  toml: [
    ['com', '#.*'],
    ['sec', '^[ \\t]*\\[\\[?[^\\]\\n]*\\]\\]?'],
    ['key', '^[ \\t]*[A-Za-z0-9_.\\-"\']+(?=[ \\t]*=)'],
    ['str', '"""[\\s\\S]*?"""|"(?:[^"\\\\\\n]|\\\\.)*"|\'[^\'\\n]*\''],
    ['num', '\\b\\d[\\d_]*(?:\\.\\d+)?\\b'],
    ['kw', '\\b(?:true|false)\\b'],
  ],
  xml: [
    ['com', '<!--[\\s\\S]*?-->'],
    ['tag', '</?[A-Za-z_][\\w:.-]*|/?>|<\\?[\\w-]+|\\?>'],
    ['attr', '\\b[\\w:-]+(?==)'],
    ['str', '"[^"]*"|\'[^\']*\''],
  ],
};
RULES.html = RULES.xml;

// Splits `text` into [class|null, piece] tokens by the type's rules.
N.tokenize = function (text, type) {
  const rules = RULES[type];
  if (!rules) return [[null, text]];
  const re = new RegExp(rules.map(([, src]) => '(' + src + ')').join('|'), 'gm');
  const out = [];
  let last = 0, m;
  while ((m = re.exec(text)) !== null) {
    if (m[0] === '') { re.lastIndex++; continue; }
    if (m.index > last) out.push([null, text.slice(last, m.index)]);
    const i = m.slice(1).findIndex((g) => g !== undefined);
    out.push([rules[i][0], m[0]]);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push([null, text.slice(last)]);
  return out;
};

// Highlighted, read-only view of `text` (detail and history pages).
N.codeView = function (text, type) {
  const pre = h('pre.code', { tabindex: '0' });
  paint(pre, text, type, 0);
  return pre;
};

// Fills `pre` with the tokens of `text`; `errLine` (1-based) is marked.
function paint(pre, text, type, errLine) {
  N.clear(pre);
  // Very large texts are shown plain: highlighting them costs more than
  // it helps.
  // So are texts with very long lines (minified JSON): some token rules
  // cost time in proportion to the square of a line's length.
  const plain = text.length > 200000 || /[^\n]{2000}/.test(text);
  const tokens = plain ? [[null, text]] : N.tokenize(text, type);
  let line = 1;
  let lineEl = h('span.line');
  const flush = () => {
    if (line === errLine) lineEl.classList.add('err-line');
    pre.appendChild(lineEl);
  };
  for (const [cls, piece] of tokens) {
    const parts = piece.split('\n');
    parts.forEach((part, i) => {
      if (i > 0) {
        lineEl.appendChild(document.createTextNode('\n'));
        flush();
        line++;
        lineEl = h('span.line');
      }
      if (part) lineEl.appendChild(cls ? h('span.t-' + cls, null, part) : document.createTextNode(part));
    });
  }
  // A trailing space keeps the last (possibly empty) line as tall as the
  // textarea's.
  lineEl.appendChild(document.createTextNode(' '));
  flush();
}

// The editor. Returns {el, value(), type(t), check()}; check() resolves to
// null when the content parses, else the problem {line, column, message}.
N.editor = function (opts) {
  const label = opts.label || N.t('Content');
  const area = h('textarea.code-input', {
    spellcheck: 'false', autocapitalize: 'off', autocomplete: 'off', wrap: 'off', id: 'editor-content', name: 'content',
  });
  area.value = opts.value || '';
  const pre = h('pre.code-hl', { 'aria-hidden': 'true' });
  const status = h('p.check', { role: 'status', id: 'editor-status' });
  let type = opts.type || 'text';
  let problem = null;
  let timer = null;
  const render = () => paint(pre, area.value, type, problem ? problem.line : 0);
  let asked = 0;
  const check = async () => {
    const mine = ++asked;
    const r = await N.api('POST', '/v3/console/cs/config/check', { type, content: area.value });
    // An older answer arriving late does not overwrite a newer one.
    if (mine !== asked) return problem;
    problem = r.valid ? null : r.problem;
    N.clear(status);
    status.className = 'check ' + (problem ? 'bad' : 'good');
    status.textContent = problem
      ? `${N.t('Invalid')} ${type}: ${N.t('line')} ${problem.line}, ${N.t('column')} ${problem.column}: ${problem.message}`
      : `${N.t('Valid')} ${type}`;
    render();
    return problem;
  };
  area.addEventListener('input', () => {
    render();
    clearTimeout(timer);
    timer = setTimeout(() => check().catch(N.fail), 400);
  });
  area.addEventListener('scroll', () => {
    pre.scrollTop = area.scrollTop;
    pre.scrollLeft = area.scrollLeft;
  });
  // Tab inserts two spaces; Escape then Tab leaves the editor (keyboard users
  // are never trapped).
  let escaped = false;
  area.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { escaped = true; return; }
    if (e.key === 'Tab' && !e.shiftKey && !escaped) {
      e.preventDefault();
      area.setRangeText('  ', area.selectionStart, area.selectionEnd, 'end');
      area.dispatchEvent(new Event('input'));
    }
    escaped = false;
  });
  render();
  const el = h('div.field', null,
    h('label', { for: area.id }, label, ' ', h('small.hint', null, N.t('(Tab indents; Esc then Tab leaves)'))),
    h('div.editor', null, pre, area),
    status);
  return {
    el,
    area,
    value: () => area.value,
    type: (t) => { type = t; render(); return check(); },
    check,
  };
};
