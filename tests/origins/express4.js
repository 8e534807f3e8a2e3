// Express 4 (body-parser 1): express.urlencoded({extended: true}) (qs), express.json(), multer().any()
// for multipart (memory storage; field names nested by append-field, as multer does).
'use strict';
const http = require('http');
const { nodeRequire, walk, send, fail, listen, mediaType } = require('./node_common');
const express = nodeRequire('express4');
const multer = nodeRequire('multer');

const app = express();
app.use(express.urlencoded({ extended: true }));
app.use(express.json());
app.use(multer({ storage: multer.memoryStorage() }).any());
app.post('*', (req, res) => {
  const type = mediaType(req);
  if (!['application/x-www-form-urlencoded', 'multipart/form-data', 'application/json'].includes(type)) {
    return send(res, 415, { error: 'not read' });
  }
  const fields = [];
  walk([], req.body, fields);
  const files = (req.files || []).map((f) => [[f.fieldname], f.originalname, f.buffer.toString('utf8')]);
  send(res, 200, { fields, files });
});
app.use((err, req, res, next) => fail(res, err)); // eslint-disable-line no-unused-vars
listen(http.createServer(app));
