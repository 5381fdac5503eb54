// Back-Channel Logout 1.0 in the test IdP: with --backchannel-logout-uri,
// client kong's ID tokens carry the session's sid, and ending the IdP session
// at the end_session endpoint POSTs a logout_token naming that sid to the URI.
// Run: node --test tests/idp/test/
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  CookieJar, codeLogin, decodeJwt, startServer, tempDir,
} from './helpers.js';

const dir = tempDir();
const redirectUri = 'http://127.0.0.1:45998/callback';
let receiver;
let received = [];
let idp;
let discovery;

before(async () => {
  // The relying party's back-channel endpoint: records each POST, answers 200.
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      received.push({ method: req.method, type: req.headers['content-type'], body });
      res.writeHead(200, { 'cache-control': 'no-store' }).end();
    });
  });
  await new Promise((resolve) => { receiver.listen(0, '127.0.0.1', resolve); });
  const uri = `http://127.0.0.1:${receiver.address().port}/backchannel-logout`;
  idp = await startServer(['--jwks-file', path.join(dir, 'jwks.json'), '--backchannel-logout-uri', uri]);
  discovery = await (await fetch(`${idp.url}/.well-known/openid-configuration`)).json();
});

after(async () => {
  await idp?.stop();
  receiver?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

// Logs john in through the login form; returns the code flow's tokens.
test('discovery announces back-channel logout with sessions', () => {
  assert.equal(discovery.backchannel_logout_supported, true);
  assert.equal(discovery.backchannel_logout_session_supported, true);
});

test('ending the IdP session POSTs a logout_token naming the sid of the ID token', async () => {
  received = [];
  const jar = new CookieJar();
  const tokens = await codeLogin(jar, idp.url, discovery, redirectUri);
  const { sid, sub } = decodeJwt(tokens.id_token).payload;
  assert.ok(sid, 'the ID token carries the session id');

  const logout = await jar.fetch(`${discovery.end_session_endpoint}?client_id=kong`, { headers: { accept: 'text/html' } });
  assert.equal(logout.status, 200);
  const events = await (await fetch(`${idp.url}/__test/events?type=backchannel_logout`)).json();
  assert.equal(received.length, 1, `one logout_token, sent before the answer: ${JSON.stringify(events)}`);
  const [post] = received;
  assert.equal(post.method, 'POST');
  assert.equal(post.type, 'application/x-www-form-urlencoded');
  const logoutToken = new URLSearchParams(post.body).get('logout_token');
  const { header, payload } = decodeJwt(logoutToken);
  assert.equal(header.typ, 'logout+jwt');
  assert.equal(payload.iss, discovery.issuer);
  assert.equal(payload.aud, 'kong');
  assert.equal(payload.sid, sid);
  assert.equal(payload.sub, sub);
  assert.ok(payload.jti);
  assert.equal(payload.nonce, undefined);
  assert.deepEqual(payload.events, { 'http://schemas.openid.net/event/backchannel-logout': {} });

  assert.equal(events.length, 1);
  assert.equal(events[0].ok, true);
  assert.equal(events[0].sid, sid);
});
