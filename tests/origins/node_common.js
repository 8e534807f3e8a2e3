// The canonical answer of every Node origin (see common.py): fields as [path, value], files as
// [path, filename, content]; nested objects (qs, multer's append-field, JSON) walked into paths.
'use strict';
const path = require('path');
const { createRequire } = require('module');

// npm packages come from tests/node/node_modules (pinned by tests/node/package-lock.json)
const nodeRequire = createRequire(path.join(__dirname, '..', 'node', 'package.json'));

function walk(prefix, value, out) {
  if (value !== null && typeof value === 'object') {
    for (const key of Object.keys(value)) walk(prefix.concat([String(key)]), value[key], out);
  } else {
    out.push([prefix, typeof value === 'string' ? value : JSON.stringify(value === undefined ? null : value)]);
  }
}

function send(res, status, body) {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': data.length });
  res.end(data);
}

function fail(res, err) {
  send(res, err.status || err.statusCode || (err.httpCode) || 400, { error: String(err.message || err).slice(0, 500) });
}

function listen(server) {
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`LISTENING ${server.address().port}\n`);
  });
}

function mediaType(req) {
  return String(req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
}

module.exports = { nodeRequire, walk, send, fail, listen, mediaType };
