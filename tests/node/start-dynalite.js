// Start dynalite on 127.0.0.1 and print the port it got, for the test fixtures.
// Usage: node start-dynalite.js [PORT] [LEVELDB_PATH]   (PORT 0 or absent: a free port)
'use strict'
const dynalite = require('dynalite')

const port = Number(process.argv[2] || 0)
const path = process.argv[3] || undefined
const server = dynalite({ path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
server.listen(port, '127.0.0.1', () => {
  console.log(`dynalite listening on 127.0.0.1:${server.address().port}`)
})
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)))
}
