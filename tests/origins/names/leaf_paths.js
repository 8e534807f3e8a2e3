// Reads {"bodies": [...], "names": [...]} on stdin and prints, for each parser below, the leaf paths holding
// the value "V" that parser builds from each body (qs) or name (append-field): the real node parsers, as
// body-parser and multer call them (tests/test_name_readings.py).
'use strict';
const path = require('path');
const modules = path.join(__dirname, '..', '..', 'node', 'node_modules');

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
// The qs each Express version's body-parser really loads, resolved the way node resolves it from there.
const from = (dir, name) => require.resolve(name, { paths: [dir] });
const qsOf = (express) => {
  const bodyParser = path.dirname(from(path.dirname(from(modules, express)), 'body-parser'));
  const main = from(bodyParser, 'qs');
  return { qs: require(main), version: require(path.join(main.split('/lib/')[0], 'package.json')).version };
};
const qs4 = qsOf('express4').qs;
const qs5 = qsOf('express5').qs;
const appendField = require(from(path.dirname(from(modules, 'multer')), 'append-field'));  // multer's copy
const out = {
  qs4_extended: input.bodies.map((b) => safely(() => leaves(qs4.parse(b, extended), [], []))),
  qs5_extended: input.bodies.map((b) => safely(() => leaves(qs5.parse(b, extended), [], []))),
  qs5_flat: input.bodies.map((b) => safely(() => leaves(qs5.parse(b, flat), [], []))),
  multer: input.names.map((n) => safely(() => { const o = {}; appendField(o, n, 'V'); return leaves(o, [], []); })),
  versions: { qs4: qsOf('express4').version, qs5: qsOf('express5').version },
};
process.stdout.write(JSON.stringify(out));
