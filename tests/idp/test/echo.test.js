// Tests of the echo upstream (tests/echo/server.js). They live here so the
// one `node --test tests/idp/test/*.test.js` covers both test servers.
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { startServer } from './helpers.js';

const echoJs = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'echo', 'server.js');

let echo;
before(async () => { echo = await startServer([], { script: echoJs }); });
after(async () => { await echo?.stop(); });

// fetch cannot send a header name twice, so use http.request with a raw
// header array (which also means setting Host and Content-Length here).
function rawRequest(method, target, rawHeaders, body) {
  const { hostname, port } = new URL(echo.url);
  return new Promise((resolve, reject) => {
    const headers = ['Host', `${hostname}:${port}`, 'Content-Length', String(Buffer.byteLength(body ?? '')), ...rawHeaders];
    const req = http.request({ hostname, port, method, path: target, headers }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('echoes method, path, query, headers and body', async () => {
  const res = await rawRequest('POST', '/a/b?x=1&y=two&x=3', [
    'X-Test', 'one', 'x-test', 'two', 'Content-Type', 'text/plain', 'Authorization', 'Bearer abc',
  ], 'hello body');
  assert.equal(res.status, 200);
  const seen = JSON.parse(res.text);
  assert.equal(seen.method, 'POST');
  assert.equal(seen.path, '/a/b');
  assert.deepEqual(seen.query, { x: ['1', '3'], y: 'two' });
  assert.equal(seen.headers['x-test'], 'one, two');
  assert.equal(seen.headers.authorization, 'Bearer abc');
  assert.equal(seen.headers['content-type'], 'text/plain');
  assert.equal(seen.body, 'hello body');
  assert.deepEqual(Object.keys(seen).sort(), ['body', 'headers', 'method', 'path', 'query']);
});

test('GET with no body, and x-echo-status sets the status', async () => {
  const plain = await fetch(`${echo.url}/`);
  assert.deepEqual({ ...(await plain.json()), headers: undefined }, {
    method: 'GET', path: '/', query: {}, headers: undefined, body: '',
  });
  const failing = await fetch(`${echo.url}/x`, { headers: { 'x-echo-status': '503' } });
  assert.equal(failing.status, 503);
  assert.equal((await failing.json()).path, '/x');
});
