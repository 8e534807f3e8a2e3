// busboy used directly (what multer and many hand-written servers run): multipart and urlencoded,
// default options (defCharset utf8, defParamCharset latin1). No JSON reader: JSON answers 415.
'use strict';
const http = require('http');
const { nodeRequire, send, fail, listen } = require('./node_common');
const busboy = nodeRequire('busboy');

listen(http.createServer((req, res) => {
  let bb;
  try {
    bb = busboy({ headers: req.headers });
  } catch (err) {
    req.resume();
    return send(res, 415, { error: String(err.message) });
  }
  const fields = [];
  const files = [];
  const pending = [];
  let failed = false;
  bb.on('field', (name, value) => fields.push([[name], value]));
  bb.on('file', (name, stream, info) => {
    const chunks = [];
    pending.push(new Promise((resolve) => {
      stream.on('data', (c) => chunks.push(c));
      stream.on('close', () => { files.push([[name], info.filename, Buffer.concat(chunks).toString('utf8')]); resolve(); });
      stream.on('error', resolve);
    }));
  });
  bb.on('error', (err) => { if (!failed) { failed = true; req.unpipe(bb); req.resume(); fail(res, err); } });
  bb.on('close', () => { if (!failed) Promise.all(pending).then(() => send(res, 200, { fields, files })); });
  req.pipe(bb);
}));
