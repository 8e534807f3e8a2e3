// Reads {"bodies": [...], "names": [...]} on stdin and prints, for each parser below, the leaf paths holding
// the value "V" that parser builds from each body (qs) or name (append-field): the real node parsers, as
// body-parser and multer call them (tests/test_name_readings.py).
'use strict';
const path = require('path');
const modules = path.join(__dirname, '..', '..', 'node', 'node_modules');
const need = (p) => require(path.join(modules, p));

function leaves(value, prefix, out) {
  if (value === 'V') { out.push(prefix); return out; }
  if (value && typeof value === 'object') {
    for (const key of Object.keys(value)) leaves(value[key], prefix.concat([String(key)]), out);
  }
  return out;
}

function safely(fn) {
  try { return fn(); } catch (e) { return []; }
}

const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
// body-parser 1.x urlencoded({extended: true}) and 2.x with extended: true call qs with these options;
// 2.x's default (extended: false) calls it with depth 0. arrayLimit is max(100, pairs) / pairs.
const extended = { allowPrototypes: true, arrayLimit: 100, depth: 32, strictDepth: true, parameterLimit: 1000 };
const flat = { allowPrototypes: true, arrayLimit: 1, depth: 0, strictDepth: true, parameterLimit: 1000 };
const qs4 = need('body-parser/node_modules/qs');  // the copy Express 4's body-parser loads
const qs5 = need('qs');                           // the copy Express 5's body-parser loads
const appendField = need('append-field');
const out = {
  qs4_extended: input.bodies.map((b) => safely(() => leaves(qs4.parse(b, extended), [], []))),
  qs5_extended: input.bodies.map((b) => safely(() => leaves(qs5.parse(b, extended), [], []))),
  qs5_flat: input.bodies.map((b) => safely(() => leaves(qs5.parse(b, flat), [], []))),
  multer: input.names.map((n) => safely(() => { const o = {}; appendField(o, n, 'V'); return leaves(o, [], []); })),
  versions: { qs4: need('body-parser/node_modules/qs/package.json').version, qs5: need('qs/package.json').version },
};
process.stdout.write(JSON.stringify(out));
