// Node http + Express 4 with the body parsers a typical application installs, DEFAULTS, unguarded:
// app.use(express.json()); app.use(express.urlencoded({ extended: true })); multer().any() for multipart;
// then req.body whatever the media type. Answers the canonical JSON (common.py) plus "view" (the media type,
// framing and body size Node saw) and "reads_as" (the parser that read the body: form, json, multipart or "").
'use strict';
const http = require('http');
const { nodeRequire, walk, send, fail, listen, mediaType } = require('./node_common');
const express = nodeRequire('express4');
const multer = nodeRequire('multer');

const app = express();
const counted = (format) => (req, res, buf) => { req.readsAs = format; req.bodyBytes = buf.length; };
app.use(express.json({ verify: counted('json') }));
app.use(express.urlencoded({ extended: true, verify: counted('form') }));
app.use(multer({ storage: multer.memoryStorage() }).any());
app.use((req, res) => {
  const view = {
    media_type: mediaType(req),
    length: req.headers['content-length'] === undefined ? null : Number(req.headers['content-length']),
    chunked: String(req.headers['transfer-encoding'] || '').toLowerCase().includes('chunked'),
    body_bytes: req.bodyBytes || 0,
  };
  let readsAs = req.readsAs || '';
  if (!readsAs && req.files !== undefined) {
    readsAs = 'multipart';
    view.body_bytes = null; // multer read the body itself
  }
  const done = () => {
    const fields = [];
    walk([], req.body || {}, fields);
    const files = (req.files || []).map((f) => [[f.fieldname], f.originalname, f.buffer.toString('utf8')]);
    send(res, 200, { fields, files, view, reads_as: readsAs });
  };
  if (req.readable && !req.readableEnded) { // nothing parsed it: count what arrives
    req.on('data', (chunk) => { view.body_bytes += chunk.length; });
    req.on('end', done);
  } else {
    done();
  }
});
app.use((err, req, res, next) => fail(res, err)); // eslint-disable-line no-unused-vars
listen(http.createServer(app));
