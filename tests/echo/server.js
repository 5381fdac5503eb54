#!/usr/bin/env node
// Upstream for the end-to-end tests: answers every request with JSON
//   {"method", "path", "query", "headers", "body"}
// so a test sees exactly what the gateway forwarded. No dependencies.
//   --port N     default 9000 (0 picks a free port; the ready line names it)
//   --host ADDR  default 127.0.0.1
// A request header `x-echo-status: NNN` sets the response status.
'use strict';

const http = require('node:http');
const { parseArgs } = require('node:util');

// Lower-cased header names; repeated headers joined with ", ".
function headersOf(req) {
  const headers = {};
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    const value = req.rawHeaders[i + 1];
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return headers;
}

// Query arguments; a repeated name gives an array of its values.
function queryOf(searchParams) {
  const query = {};
  for (const [name, value] of searchParams) {
    if (!(name in query)) query[name] = value;
    else if (Array.isArray(query[name])) query[name].push(value);
    else query[name] = [query[name], value];
  }
  return query;
}

function statusFrom(headers) {
  const status = Number(headers['x-echo-status']);
  return Number.isInteger(status) && status >= 200 && status <= 599 ? status : 200;
}

function handle(req, res) {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const url = new URL(req.url, 'http://upstream.invalid');
    const headers = headersOf(req);
    // One line per request, so tests can count what reached the upstream.
    process.stdout.write(`request ${req.method} ${req.url}\n`);
    const payload = JSON.stringify({
      method: req.method,
      path: url.pathname,
      query: queryOf(url.searchParams),
      headers,
      body: Buffer.concat(chunks).toString('utf8'),
    });
    res.writeHead(statusFrom(headers), {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(payload),
    });
    res.end(req.method === 'HEAD' ? undefined : payload);
  });
}

function main() {
  let values;
  try {
    ({ values } = parseArgs({
      options: { port: { type: 'string' }, host: { type: 'string' } },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`echo: ${err.message}\nusage: node tests/echo/server.js [--port 9000] [--host 127.0.0.1]\n`);
    process.exit(2);
  }
  const port = values.port === undefined ? 9000 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`echo: --port must be an integer from 0 to 65535, got "${values.port}"\n`);
    process.exit(2);
  }
  const host = values.host ?? '127.0.0.1';
  const server = http.createServer(handle);
  server.on('error', (err) => {
    process.stderr.write(`echo: cannot listen on ${host}:${port}: ${err.message}\n`);
    process.exit(1);
  });
  server.listen(port, host, () => {
    process.stdout.write(`echo listening on http://${host}:${server.address().port}\n`);
  });
  const stop = () => server.close(() => process.exit(0)) && server.closeAllConnections();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
