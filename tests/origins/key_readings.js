// Express 4 as a typical application reads a protected path: not only `req.body.card.number`, but through
// the accessors applications use on the parsed body (express.json(), express.urlencoded({extended: true}),
// multer().any()). The paths to read come in KEY_READS (JSON: a list of key lists, e.g. [["card","number"]]).
// Answer: {"readings": [[accessor, [key, ...], value-or-null], ...]} (objects JSON-encoded, so a secret anywhere
// beneath the path is seen). After each request Object.prototype is checked for what a body planted there.
'use strict';
const http = require('http');
const { nodeRequire, send, fail, listen } = require('./node_common');
const express = nodeRequire('express4');
const multer = nodeRequire('multer');
const _ = nodeRequire('lodash');

const READS = JSON.parse(process.env.KEY_READS || '[]');

function plain(object, path) {
  // property access as `body.card.number` is written: inherited properties (a prototype) are read too
  let value = object;
  for (const key of path) {
    if (value === null || value === undefined) return undefined;
    value = value[key];
  }
  return value;
}

function shown(value) {
  if (value === undefined || value === null) return null;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function unflattened(body) {
  // `for (k in body) _.set(out, k, body[k])`: the unflattening applications do to dotted keys
  const out = {};
  for (const key of Object.keys(body || {})) _.set(out, key, _.cloneDeep(body[key])); // never body's own objects
  return out;
}

function readings(body) {
  const views = {
    plain: body,
    'Object.assign': Object.assign({}, body),
    spread: { ...body },
    'lodash.merge': _.merge({}, body),
    'lodash.set(each key)': unflattened(body),
  };
  const out = [];
  for (const path of READS) {
    const dotted = path.join('.');
    const bracketed = path[0] + path.slice(1).map((k) => `[${k}]`).join('');
    out.push(['lodash.get(dotted)', path, shown(_.get(body, dotted))]);
    out.push(['lodash.get(brackets)', path, shown(_.get(body, bracketed))]);
    out.push(['lodash.get(keys)', path, shown(_.get(body, path))]);
    out.push(['lodash.result(dotted)', path, shown(_.result(body, dotted))]);
    for (const [name, view] of Object.entries(views)) out.push([name, path, shown(plain(view, path))]);
    out.push(['Object.prototype', path, shown(plain({}, path))]); // planted on every object
  }
  return out;
}

function scrubPrototype() {
  // a polluted Object.prototype would leak into the next request's readings: report it once, then clear it
  for (const key of Object.keys(Object.prototype)) delete Object.prototype[key];
}

const app = express();
app.use(express.urlencoded({ extended: true }));
app.use(express.json());
app.use(multer({ storage: multer.memoryStorage() }).any());
app.post('*', (req, res) => {
  try {
    send(res, 200, { readings: readings(req.body) });
  } finally {
    scrubPrototype();
  }
});
app.use((err, req, res, next) => { // eslint-disable-line no-unused-vars
  scrubPrototype();
  fail(res, err);
});
listen(http.createServer(app));
