// Written by qyv: rewrites the regular expressions of a bundle that use Unicode property
// escapes (\p{L}, \P{N}, ...), which the component's engine (StarlingMonkey, without Unicode
// data) refuses, into the explicit ranges node computes here.
// argv: the node_modules holding acorn and acorn-walk, the bundle (rewritten in place).
import { pathToFileURL } from 'node:url';
import { readFileSync, writeFileSync } from 'node:fs';

const [modules, file] = process.argv.slice(2);
const load = (p) => import(pathToFileURL(`${modules}/${p}`).href);
const acorn = await load('acorn/dist/acorn.mjs');
const walk = await load('acorn-walk/dist/walk.mjs');

const source = readFileSync(file, 'utf8');
const ast = acorn.parse(source, { ecmaVersion: 'latest', sourceType: 'script', allowHashBang: true, allowReturnOutsideFunction: true });
const edits = [];
walk.full(ast, (node) => {
  if (node.type === 'Literal' && node.regex && /\\[pP]\{/.test(node.regex.pattern) && /[uv]/.test(node.regex.flags)) {
    edits.push(node);
  }
});

const tables = new Map();
function ranges(name) {
  if (!tables.has(name)) {
    const re = new RegExp(`^\\p{${name}}$`, 'u');
    const out = [];
    let start = -1;
    for (let c = 0; c <= 0x110000; c++) {
      const inside = c < 0x110000 && (c < 0xd800 || c > 0xdfff) && re.test(String.fromCodePoint(c));
      if (inside && start < 0) start = c;
      if (!inside && start >= 0) {
        out.push([start, c - 1]);
        start = -1;
      }
    }
    tables.set(name, out);
  }
  return tables.get(name);
}
function complement(list) {
  const out = [];
  let next = 0;
  for (const [a, b] of list) {
    if (a > next) out.push([next, a - 1]);
    next = b + 1;
  }
  if (next <= 0x10ffff) out.push([next, 0x10ffff]);
  return out;
}
const hex = (c) => `\\u{${c.toString(16)}}`;
const klass = (list) => list.map(([a, b]) => (a === b ? hex(a) : `${hex(a)}-${hex(b)}`)).join('');

function rewrite(pattern) {
  let out = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '\\') {
      const m = /^\\([pP])\{([^}]*)\}/.exec(pattern.slice(i));
      if (m) {
        const list = m[1] === 'p' ? ranges(m[2]) : complement(ranges(m[2]));
        out += inClass ? klass(list) : `[${klass(list)}]`;
        i += m[0].length - 1;
        continue;
      }
      out += ch + (pattern[i + 1] ?? '');
      i++;
      continue;
    }
    if (ch === '[') inClass = true;
    else if (ch === ']') inClass = false;
    out += ch;
  }
  return out;
}

edits.sort((a, b) => b.start - a.start);
let result = source;
for (const node of edits) {
  const flags = node.regex.flags.replace('v', 'u');
  result = `${result.slice(0, node.start)}/${rewrite(node.regex.pattern)}/${flags}${result.slice(node.end)}`;
}
writeFileSync(file, result);
console.log(`${edits.length}`);
