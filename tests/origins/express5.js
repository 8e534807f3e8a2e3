// Express 5 (body-parser 2): under /simple/ express.urlencoded({extended: false}) (node:querystring),
// elsewhere express.urlencoded({extended: true}) (qs); express.json() on both. No multipart reader.
'use strict';
const http = require('http');
const { nodeRequire, walk, send, fail, listen, mediaType } = require('./node_common');
const express = nodeRequire('express5');

const app = express();
app.use('/simple', express.urlencoded({ extended: false }));
app.use(express.urlencoded({ extended: true }));
app.use(express.json());
app.post('/{*rest}', (req, res) => {
  const type = mediaType(req);
  if (!['application/x-www-form-urlencoded', 'application/json'].includes(type)) {
    return send(res, 415, { error: 'not read' });
  }
  const fields = [];
  walk([], req.body, fields);
  send(res, 200, { fields, files: [] });
});
app.use((err, req, res, next) => fail(res, err)); // eslint-disable-line no-unused-vars
listen(http.createServer(app));
