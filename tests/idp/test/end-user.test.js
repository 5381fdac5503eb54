// POST /__test/end-user: an administrator ends a user's sessions at the IdP.
// The user's password-grant and code-flow tokens (refresh and access) go
// inactive, refreshes fail with invalid_grant, the OP session is gone (the
// next /auth shows the login form again), and other users keep theirs.
// Run: node --test tests/idp/test/
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  CookieJar, authorizeUrl, basic, codeLogin, postForm, startServer, tempDir,
} from './helpers.js';

const dir = tempDir();
const redirectUri = 'http://127.0.0.1:45997/callback';
const client = { authorization: basic('kong', 'secret') };
let idp;
let discovery;

before(async () => {
  idp = await startServer(['--jwks-file', path.join(dir, 'jwks.json'), '--quiet']);
  discovery = await (await fetch(`${idp.url}/.well-known/openid-configuration`)).json();
});

after(async () => {
  await idp?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function password(username) {
  const { status, json } = await postForm(discovery.token_endpoint, {
    grant_type: 'password', username, password: 'doe', scope: 'openid',
  }, client);
  assert.equal(status, 200);
  return json;
}

async function active(token, hint) {
  const { json } = await postForm(discovery.introspection_endpoint, { token, token_type_hint: hint }, client);
  return json.active;
}

async function endUser(body) {
  const res = await fetch(`${idp.url}/__test/end-user`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

test('ending a user makes every token of theirs inactive, and only theirs', async () => {
  const jar = new CookieJar();
  const code = await codeLogin(jar, idp.url, discovery, redirectUri);
  const grant = await password('john');
  const other = await password('jane');
  for (const tokens of [code, grant, other]) {
    assert.equal(await active(tokens.refresh_token, 'refresh_token'), true);
    assert.equal(await active(tokens.access_token, 'access_token'), true);
  }

  const ended = await endUser({ sub: 'user-john' });
  assert.equal(ended.status, 200);
  assert.deepEqual(ended.json, { sub: 'user-john', grants: 2, sessions: 1 });

  for (const tokens of [code, grant]) {
    assert.equal(await active(tokens.refresh_token, 'refresh_token'), false);
    assert.equal(await active(tokens.access_token, 'access_token'), false);
    const refresh = await postForm(discovery.token_endpoint, {
      grant_type: 'refresh_token', refresh_token: tokens.refresh_token,
    }, client);
    assert.equal(refresh.status, 400);
    assert.equal(refresh.json.error, 'invalid_grant');
  }
  assert.equal(await active(other.refresh_token, 'refresh_token'), true, 'jane keeps hers');

  // The OP session is gone: the browser must log in again.
  const again = await jar.fetch(authorizeUrl(discovery, redirectUri, randomBytes(32).toString('base64url')));
  const location = again.headers.get('location');
  assert.match(location, /\/interaction\//, 'no SSO back in');

  const [event] = (await (await fetch(`${idp.url}/__test/events?type=end_user`)).json());
  assert.equal(event.sub, 'user-john');
  assert.equal(event.grants, 2);
});

test('a request without a sub is refused', async () => {
  for (const body of [{}, { sub: '' }, { sub: 3 }]) {
    const { status, json } = await endUser(body);
    assert.equal(status, 400);
    assert.equal(json.error, 'invalid_request');
  }
  const nobody = await endUser({ sub: 'user-nobody' });
  assert.deepEqual(nobody.json, { sub: 'user-nobody', grants: 0, sessions: 0 });
});
