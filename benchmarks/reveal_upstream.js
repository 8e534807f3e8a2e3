// The upstream of `python -m benchmarks.bench_reveal --processes 1,2 --load wrk`: a Node HTTP server, so
// that the upstream takes little of the cores reveal's workers need (the aiohttp upstream of the default
// load took about a third of what reveal did per request). It answers every POST with "ok" and counts the
// bodies that arrived with the value in plaintext (`card_number=4111...`, as the benchmark's values begin),
// those that did not, and the distinct values seen (so the benchmark knows wrk sent each in turn); GET
// /counts gives the three as JSON. `node reveal_upstream.js --listen HOST:PORT`.
"use strict";
const http = require("http");

let plaintext = 0;
let other = 0;
const seen = new Set();
const server = http.createServer((request, response) => {
  if (request.method === "GET" && request.url === "/counts") {
    response.writeHead(200, { "Content-Type": "application/json" });
    response.end(JSON.stringify({ plaintext, other, distinct: seen.size }));
    return;
  }
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    const found = /card_number=(4111\d+)/.exec(Buffer.concat(chunks).toString("latin1"));
    if (found) {
      plaintext++;
      seen.add(found[1]);
    } else other++;
    response.writeHead(200, { "Content-Type": "text/plain", "Content-Length": "2" });
    response.end("ok");
  });
});
server.keepAliveTimeout = 60000;
const listen = process.argv[process.argv.indexOf("--listen") + 1] || "";
const [host, port] = [listen.slice(0, listen.lastIndexOf(":")), Number(listen.slice(listen.lastIndexOf(":") + 1))];
if (!host || !port) {
  console.error("usage: node reveal_upstream.js --listen HOST:PORT");
  process.exit(2);
}
server.listen(port, host, () => console.log(`listening on ${host}:${port}`));
