// RFC 8414 mode of the test IdP: with --revocation-only-in-oauth-metadata the
// revocation and introspection endpoints are missing from OpenID discovery and
// published in /.well-known/oauth-authorization-server only; without it both
// documents name them (oidc-provider serves both). Run: node --test tests/idp/test/
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { basic, postForm, startServer, tempDir } from './helpers.js';

const dir = tempDir();
let moved;
let plain;

before(async () => {
  const jwks = ['--jwks-file', path.join(dir, 'jwks.json')];
  [moved, plain] = await Promise.all([
    startServer([...jwks, '--revocation-only-in-oauth-metadata']),
    startServer(jwks),
  ]);
});

after(async () => {
  await Promise.all([moved?.stop(), plain?.stop()]);
  fs.rmSync(dir, { recursive: true, force: true });
});

async function getJson(url) {
  const res = await fetch(url);
  return { status: res.status, json: await res.json().catch(() => undefined) };
}

test('discovery no longer names the revocation and introspection endpoints', async () => {
  const { status, json } = await getJson(`${moved.url}/.well-known/openid-configuration`);
  assert.equal(status, 200);
  for (const name of ['revocation_endpoint', 'introspection_endpoint',
    'revocation_endpoint_auth_methods_supported', 'introspection_endpoint_auth_methods_supported']) {
    assert.equal(json[name], undefined, name);
  }
  assert.equal(json.issuer, moved.url);
  assert.equal(json.token_endpoint, `${moved.url}/token`, 'the rest of discovery is kept');
  assert.ok(json.end_session_endpoint);
});

test('the RFC 8414 document names them, with the same issuer, and they work', async () => {
  const { status, json } = await getJson(`${moved.url}/.well-known/oauth-authorization-server`);
  assert.equal(status, 200);
  assert.equal(json.issuer, moved.url);
  assert.equal(json.revocation_endpoint, `${moved.url}/token/revocation`);
  assert.equal(json.introspection_endpoint, `${moved.url}/token/introspection`);
  assert.equal(json.token_endpoint, `${moved.url}/token`);
  assert.equal(json.end_session_endpoint, undefined, 'not an RFC 8414 member');

  const kong = basic('kong', 'secret');
  const grant = await postForm(json.token_endpoint, {
    grant_type: 'password', username: 'john', password: 'doe', scope: 'openid',
  }, { authorization: kong });
  assert.equal(grant.status, 200);
  const revoked = await postForm(json.revocation_endpoint, {
    token: grant.json.access_token, token_type_hint: 'access_token',
  }, { authorization: kong });
  assert.equal(revoked.status, 200);
  const introspected = await postForm(json.introspection_endpoint, { token: grant.json.access_token }, { authorization: kong });
  assert.equal(introspected.json.active, false);

  const events = (await getJson(`${moved.url}/__test/events?type=oauth_metadata`)).json;
  assert.equal(events.length, 1);
  assert.equal(events[0].status, 200);
});

test('without the flag both documents name them', async () => {
  for (const document of ['openid-configuration', 'oauth-authorization-server']) {
    const { status, json } = await getJson(`${plain.url}/.well-known/${document}`);
    assert.equal(status, 200, document);
    assert.equal(json.revocation_endpoint, `${plain.url}/token/revocation`, document);
    assert.equal(json.introspection_endpoint, `${plain.url}/token/introspection`, document);
    assert.ok(json.end_session_endpoint, document);
  }
});
