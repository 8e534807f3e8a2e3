// formidable 3 with its default plugins (octetstream, querystring, multipart, json): form.parse().
'use strict';
const http = require('http');
const fs = require('fs');
const os = require('os');
const { nodeRequire, walk, send, fail, listen, mediaType } = require('./node_common');
const { formidable } = nodeRequire('formidable');

listen(http.createServer((req, res) => {
  const type = mediaType(req);
  if (!['application/x-www-form-urlencoded', 'multipart/form-data', 'application/json'].includes(type)) {
    req.resume();
    return send(res, 415, { error: 'not read' });
  }
  const form = formidable({ uploadDir: os.tmpdir(), allowEmptyFiles: true, minFileSize: 0 });
  form.parse(req, (err, fields, files) => {
    if (err) return fail(res, err);
    const outFields = [];
    if (type === 'application/json') {
      walk([], fields, outFields);
    } else {
      for (const key of Object.keys(fields)) {
        for (const value of [].concat(fields[key])) outFields.push([[key], String(value)]);
      }
    }
    const outFiles = [];
    for (const key of Object.keys(files)) {
      for (const file of [].concat(files[key])) {
        outFiles.push([[key], file.originalFilename, fs.readFileSync(file.filepath).toString('utf8')]);
        fs.unlink(file.filepath, () => {});
      }
    }
    send(res, 200, { fields: outFields, files: outFiles });
  });
}));
