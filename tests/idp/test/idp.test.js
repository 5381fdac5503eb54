// End-to-end tests of the test IdP: the real server.js on a free port, driven
// with fetch. Run: node --test tests/idp/test/
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  after, before, beforeEach, describe, test,
} from 'node:test';
import {
  CookieJar, basic, decodeJwt, postForm, rs256Verifies, startServer, tempDir,
} from './helpers.js';

const dir = tempDir();
const jwksFile = path.join(dir, 'jwks.json');
const KONG = basic('kong', 'secret');

let idp;
let base;
let discovery;

async function getJson(url, init) {
  const res = await fetch(url, init);
  return { status: res.status, json: await res.json() };
}

async function events(type) {
  const query = type ? `?type=${type}` : '';
  return (await getJson(`${base}/__test/events${query}`)).json;
}

async function passwordGrant(username = 'john', password = 'doe', extra = {}, headers = { authorization: KONG }) {
  return postForm(discovery.token_endpoint, {
    grant_type: 'password', username, password, scope: 'openid profile email', ...extra,
  }, headers);
}

before(async () => {
  const started = Date.now();
  idp = await startServer(['--jwks-file', jwksFile]);
  base = idp.url;
  discovery = (await getJson(`${base}/.well-known/openid-configuration`)).json;
  // The brief asks for start-up in about a second; allow slow CI machines.
  assert.ok(Date.now() - started < 10000, `start-up took ${Date.now() - started} ms`);
});

after(async () => {
  await idp?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  await fetch(`${base}/__test/fail`, { method: 'DELETE' });
  await fetch(`${base}/__test/events`, { method: 'DELETE' });
});

describe('discovery and keys', () => {
  test('discovery names every endpoint the filter uses', () => {
    assert.equal(discovery.issuer, base);
    for (const [name, suffix] of [
      ['token_endpoint', '/token'],
      ['revocation_endpoint', '/token/revocation'],
      ['introspection_endpoint', '/token/introspection'],
      ['end_session_endpoint', '/session/end'],
      ['userinfo_endpoint', '/me'],
      ['jwks_uri', '/jwks'],
      ['authorization_endpoint', '/auth'],
    ]) {
      assert.equal(discovery[name], `${base}${suffix}`, name);
    }
    assert.ok(discovery.grant_types_supported.includes('password'));
    assert.ok(discovery.grant_types_supported.includes('client_credentials'));
    assert.deepEqual(discovery.code_challenge_methods_supported, ['S256']);
  });

  test('health answers, and the signing keys are kept in the jwks file', async () => {
    const health = await getJson(`${base}/__test/health`);
    assert.deepEqual(health, { status: 200, json: { status: 'ok', issuer: base } });
    const stored = JSON.parse(fs.readFileSync(jwksFile, 'utf8'));
    const published = (await getJson(discovery.jwks_uri)).json;
    assert.deepEqual(published.keys.map((k) => k.kid), stored.keys.map((k) => k.kid));
    assert.ok(published.keys.every((k) => k.d === undefined), 'private parts must not be published');
  });
});

describe('password grant', () => {
  test('basic auth issues access, refresh and a signed ID token with the user claims', async () => {
    const { status, json } = await passwordGrant();
    assert.equal(status, 200);
    assert.equal(json.token_type, 'Bearer');
    assert.ok(json.access_token && json.refresh_token && json.id_token);
    assert.equal(json.scope, 'openid profile email');
    const jwks = (await getJson(discovery.jwks_uri)).json;
    assert.ok(rs256Verifies(json.id_token, jwks));
    const { payload } = decodeJwt(json.id_token);
    assert.equal(payload.iss, base);
    assert.equal(payload.aud, 'kong');
    assert.equal(payload.sub, 'user-john');
    assert.equal(payload.preferred_username, 'john');
    assert.equal(payload.email, 'john@example.com');
    assert.deepEqual(payload.groups, ['users']);
    assert.equal(json.access_token.split('.').length, 1, 'access tokens are opaque by default');

    const [event] = await events('token');
    assert.equal(event.grant_type, 'password');
    assert.equal(event.client_auth_method, 'client_secret_basic');
    assert.equal(event.client_id, 'kong');
    assert.equal(event.username, 'john');
    assert.equal(event.issued.refresh_token, json.refresh_token);
  });

  test('client_secret_post works for kong-post and for kong', async () => {
    for (const clientId of ['kong-post', 'kong']) {
      const { status, json } = await passwordGrant('jane', 'doe', { client_id: clientId, client_secret: 'secret' }, {});
      assert.equal(status, 200, clientId);
      assert.equal(decodeJwt(json.id_token).payload.aud, clientId);
    }
    const methods = (await events('token')).map((e) => [e.client_id, e.client_auth_method]);
    assert.deepEqual(methods, [['kong-post', 'client_secret_post'], ['kong', 'client_secret_post']]);
  });

  test('wrong password is invalid_grant, wrong secret invalid_client', async () => {
    const badPassword = await passwordGrant('john', 'nope');
    assert.equal(badPassword.status, 400);
    assert.equal(badPassword.json.error, 'invalid_grant');
    const unknownUser = await passwordGrant('nobody', 'doe');
    assert.equal(unknownUser.json.error, 'invalid_grant');
    const emptyPassword = await passwordGrant('john', '');
    assert.equal(emptyPassword.json.error, 'invalid_grant', 'as after the seed\'s `-a john:`');
    const badSecret = await passwordGrant('john', 'doe', {}, { authorization: basic('kong', 'wrong') });
    assert.equal(badSecret.status, 401);
    assert.equal(badSecret.json.error, 'invalid_client');
    const recorded = (await events('token')).map((e) => [e.status, e.error]);
    assert.deepEqual(recorded, [[400, 'invalid_grant'], [400, 'invalid_grant'], [400, 'invalid_grant'], [401, 'invalid_client']]);
  });

  test('an unknown scope is refused', async () => {
    const { status, json } = await passwordGrant('john', 'doe', { scope: 'openid admin' });
    assert.equal(status, 400);
    assert.equal(json.error, 'invalid_scope');
  });
});

describe('refresh, introspection and revocation', () => {
  test('refresh answers new tokens and keeps the refresh token by default', async () => {
    const first = (await passwordGrant()).json;
    const { status, json } = await postForm(discovery.token_endpoint, {
      grant_type: 'refresh_token', refresh_token: first.refresh_token,
    }, { authorization: KONG });
    assert.equal(status, 200);
    assert.notEqual(json.access_token, first.access_token);
    assert.equal(json.refresh_token, first.refresh_token);
    assert.ok(json.id_token);
    const refresh = (await events('token')).at(-1);
    assert.equal(refresh.grant_type, 'refresh_token');
    assert.equal(refresh.refresh_token, first.refresh_token);
  });

  test('revoking the refresh token then the access token, as Kong logout does', async () => {
    const tokens = (await passwordGrant()).json;
    const introspect = async (token) => (await postForm(discovery.introspection_endpoint, { token }, { authorization: KONG })).json;

    const before = await introspect(tokens.refresh_token);
    assert.equal(before.active, true);
    assert.equal(before.sub, 'user-john');
    assert.equal((await introspect(tokens.access_token)).active, true);

    for (const [token, hint] of [[tokens.refresh_token, 'refresh_token'], [tokens.access_token, 'access_token']]) {
      const res = await postForm(discovery.revocation_endpoint, { token, token_type_hint: hint }, { authorization: KONG });
      assert.equal(res.status, 200);
    }
    assert.deepEqual(await introspect(tokens.refresh_token), { active: false });
    assert.deepEqual(await introspect(tokens.access_token), { active: false });

    const revocations = await events('revocation');
    assert.deepEqual(
      revocations.map((e) => [e.token_type_hint, e.token, e.found, e.client_auth_method]),
      [
        ['refresh_token', tokens.refresh_token, true, 'client_secret_basic'],
        // The first revocation ended the whole grant, so this finds nothing.
        ['access_token', tokens.access_token, false, 'client_secret_basic'],
      ],
    );
    const introspections = await events('introspection');
    assert.deepEqual(introspections.map((e) => e.active), [true, true, false, false]);
  });

  test('revoking an unknown token answers 200, found false', async () => {
    const res = await postForm(discovery.revocation_endpoint, { token: 'no-such-token' }, { authorization: KONG });
    assert.equal(res.status, 200);
    assert.equal((await events('revocation'))[0].found, false);
  });

  test('a client cannot revoke another client\'s token', async () => {
    const tokens = (await passwordGrant()).json;
    await postForm(discovery.revocation_endpoint, { token: tokens.refresh_token }, { authorization: basic('kong-post', 'secret') });
    const check = await postForm(discovery.introspection_endpoint, { token: tokens.refresh_token }, { authorization: KONG });
    assert.equal(check.json.active, true);
  });

  test('client credentials and userinfo', async () => {
    const cc = await postForm(discovery.token_endpoint, { grant_type: 'client_credentials' }, { authorization: KONG });
    assert.equal(cc.status, 200);
    assert.ok(cc.json.access_token);
    assert.equal(cc.json.refresh_token, undefined);

    const tokens = (await passwordGrant()).json;
    const info = await getJson(discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(info.status, 200);
    assert.equal(info.json.sub, 'user-john');
    assert.equal(info.json.name, 'John Doe');
  });
});

describe('RP-initiated logout', () => {
  test('id_token_hint and a registered post_logout_redirect_uri redirect at once', async () => {
    const { id_token: idToken } = (await passwordGrant()).json;
    const target = 'http://127.0.0.1:8000/';
    const url = `${discovery.end_session_endpoint}?${new URLSearchParams({
      id_token_hint: idToken, post_logout_redirect_uri: target, state: 'st-1',
    })}`;
    const res = await fetch(url, { redirect: 'manual', headers: { accept: 'text/html' } });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), `${target}?state=st-1`);

    const [event] = await events('end_session');
    assert.equal(event.id_token_hint, idToken);
    assert.equal(event.post_logout_redirect_uri, target);
    assert.equal(event.state, 'st-1');
    assert.equal(event.status, 303);
    assert.equal(event.op_session, false);
  });

  test('any loopback port is accepted as post_logout_redirect_uri, other hosts are not', async () => {
    const allowed = `${discovery.end_session_endpoint}?client_id=kong&post_logout_redirect_uri=${encodeURIComponent('http://localhost:41234/after/logout')}`;
    const ok = await fetch(allowed, { redirect: 'manual' });
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get('location'), 'http://localhost:41234/after/logout');

    const refused = `${discovery.end_session_endpoint}?client_id=kong&post_logout_redirect_uri=${encodeURIComponent('http://evil.example/')}`;
    const bad = await fetch(refused, { redirect: 'manual', headers: { accept: 'application/json' } });
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error_description, 'post_logout_redirect_uri not registered');
    const recorded = await events('end_session');
    assert.deepEqual(recorded.map((e) => [e.client_id, e.status]), [['kong', 303], ['kong', 400]]);
  });

  test('without post_logout_redirect_uri it ends on a 200 page saying so', async () => {
    const { id_token: idToken } = (await passwordGrant()).json;
    const res = await fetch(`${discovery.end_session_endpoint}?id_token_hint=${idToken}`, { redirect: 'manual' });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /text\/html/);
    assert.match(await res.text(), /logged out/i);
    const bare = await fetch(discovery.end_session_endpoint, { redirect: 'manual' });
    assert.equal(bare.status, 200);
    assert.match(await bare.text(), /logged out/i);
  });
});

describe('browser: authorization code flow with PKCE, SSO, logout', () => {
  const redirectUri = 'http://127.0.0.1:45999/callback';

  function authorizeUrl(challenge, state) {
    return `${discovery.authorization_endpoint}?${new URLSearchParams({
      client_id: 'kong',
      response_type: 'code',
      scope: 'openid profile',
      redirect_uri: redirectUri,
      state,
      nonce: `n-${state}`,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    })}`;
  }

  test('login page, code, tokens, SSO, then logout ends the OP session', async () => {
    const jar = new CookieJar();
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');

    const start = await jar.fetch(authorizeUrl(challenge, 's1'));
    assert.equal(start.status, 303);
    const interaction = new URL(start.headers.get('location'), base).href;
    assert.match(interaction, /\/interaction\//);

    const page = await jar.fetch(interaction);
    assert.equal(page.status, 200);
    const html = await page.text();
    const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
    assert.ok(action, 'the login page has a form');
    assert.match(html, /name="username"/);
    assert.match(html, /name="password"/);

    const form = (fields) => ({
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
    const wrong = await jar.fetch(new URL(action, base), form({ username: 'john', password: 'bad' }));
    assert.equal(wrong.status, 200);
    assert.match(await wrong.text(), /Invalid username or password/);

    const login = await jar.fetch(new URL(action, base), form({ username: 'john', password: 'doe' }));
    assert.equal(login.status, 303);
    const resume = await jar.fetch(new URL(login.headers.get('location'), base));
    assert.equal(resume.status, 303);
    const callback = new URL(resume.headers.get('location'));
    assert.equal(`${callback.origin}${callback.pathname}`, redirectUri);
    assert.equal(callback.searchParams.get('state'), 's1');
    const code = callback.searchParams.get('code');

    const noVerifier = await postForm(discovery.token_endpoint, {
      grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: 'x'.repeat(43),
    }, { authorization: KONG });
    assert.equal(noVerifier.json.error, 'invalid_grant', 'a wrong code_verifier is refused');

    // The failed attempt above consumed nothing it shouldn't: get a new code via SSO.
    const sso = await jar.fetch(authorizeUrl(challenge, 's2'));
    assert.equal(sso.status, 303);
    const ssoCallback = new URL(sso.headers.get('location'));
    assert.equal(ssoCallback.searchParams.get('state'), 's2', 'SSO skips the login page');
    const tokens = await postForm(discovery.token_endpoint, {
      grant_type: 'authorization_code',
      code: ssoCallback.searchParams.get('code'),
      redirect_uri: redirectUri,
      code_verifier: verifier,
    }, { authorization: KONG });
    assert.equal(tokens.status, 200);
    assert.ok(tokens.json.refresh_token, 'refresh tokens are issued without offline_access');
    const idClaims = decodeJwt(tokens.json.id_token).payload;
    assert.equal(idClaims.sub, 'user-john');
    assert.equal(idClaims.nonce, 'n-s2');
    assert.equal(idClaims.name, 'John Doe');

    const logout = await jar.fetch(`${discovery.end_session_endpoint}?${new URLSearchParams({
      id_token_hint: tokens.json.id_token, post_logout_redirect_uri: 'http://127.0.0.1:45999/bye',
    })}`, { headers: { accept: 'text/html' } });
    assert.equal(logout.status, 303, 'no confirmation page');
    assert.equal(logout.headers.get('location'), 'http://127.0.0.1:45999/bye');
    assert.equal(jar.has('_session'), false, 'the OP session cookie is expired');
    const [event] = await events('end_session');
    assert.equal(event.op_session, true);

    const introspected = await postForm(discovery.introspection_endpoint, { token: tokens.json.refresh_token }, { authorization: KONG });
    assert.equal(introspected.json.active, false, 'logout revoked the session\'s tokens');
    const again = await jar.fetch(authorizeUrl(challenge, 's3'));
    assert.match(again.headers.get('location'), /\/interaction\//, 'after logout the user must log in again');
  });
});

describe('events API', () => {
  test('newest last, filter by type, DELETE clears', async () => {
    await passwordGrant();
    await fetch(discovery.jwks_uri);
    const all = await events();
    assert.deepEqual(all.map((e) => e.type), ['token', 'jwks']);
    assert.ok(all[0].seq < all[1].seq);
    assert.equal((await events('jwks')).length, 1);
    const cleared = await fetch(`${base}/__test/events`, { method: 'DELETE' });
    assert.equal(cleared.status, 204);
    assert.deepEqual(await events(), []);
  });
});

describe('fault switch', () => {
  async function setFault(rule) {
    return fetch(`${base}/__test/fail`, { method: 'POST', body: JSON.stringify(rule) });
  }

  test('a status for N requests, then normal again', async () => {
    assert.equal((await setFault({ endpoint: 'revocation', status: 503, times: 2 })).status, 201);
    const statuses = [];
    for (let i = 0; i < 3; i += 1) {
      statuses.push((await postForm(discovery.revocation_endpoint, { token: 't', token_type_hint: 'refresh_token' }, { authorization: KONG })).status);
    }
    assert.deepEqual(statuses, [503, 503, 200]);
    const recorded = await events('revocation');
    assert.deepEqual(recorded.map((e) => [e.status, Boolean(e.injected), e.token_type_hint]), [
      [503, true, 'refresh_token'], [503, true, 'refresh_token'], [200, false, 'refresh_token'],
    ]);
  });

  test('each endpoint name can fail; other endpoints are untouched', async () => {
    for (const [endpoint, request] of [
      ['token', () => passwordGrant()],
      ['introspection', () => postForm(discovery.introspection_endpoint, { token: 't' }, { authorization: KONG })],
      ['jwks', () => fetch(discovery.jwks_uri)],
      ['discovery', () => fetch(`${base}/.well-known/openid-configuration`)],
    ]) {
      await setFault({ endpoint, status: 500, times: 1 });
      assert.equal((await fetch(discovery.jwks_uri.replace('/jwks', '/__test/health'))).status, 200);
      assert.equal((await request()).status, 500, endpoint);
      assert.equal((await request()).status, 200, `${endpoint} recovers`);
    }
  });

  test('delay_ms holds the answer; DELETE resets', async () => {
    await setFault({ endpoint: 'discovery', delay_ms: 400 });
    let started = Date.now();
    assert.equal((await fetch(`${base}/.well-known/openid-configuration`)).status, 200);
    assert.ok(Date.now() - started >= 390, 'the answer was delayed');
    assert.equal((await fetch(`${base}/__test/fail`, { method: 'DELETE' })).status, 204);
    started = Date.now();
    await fetch(`${base}/.well-known/openid-configuration`);
    assert.ok(Date.now() - started < 390, 'no delay after reset');
  });

  test('a hang is seen as a timeout by the client', async () => {
    await setFault({ delay_ms: 15000 });
    await assert.rejects(fetch(discovery.jwks_uri, { signal: AbortSignal.timeout(300) }));
    assert.equal((await getJson(`${base}/__test/fail`)).json.length, 1);
  });

  test('drop closes the connection without an answer', async () => {
    await setFault({ endpoint: 'token', drop: true, times: 1 });
    await assert.rejects(passwordGrant());
    assert.equal((await passwordGrant()).status, 200);
  });

  test('bad rules are refused with a reason', async () => {
    for (const rule of [{ endpoint: 'nope', status: 500 }, { endpoint: 'token' }, { status: 99 }, { times: 0, status: 500 }, []]) {
      const res = await setFault(rule);
      assert.equal(res.status, 400, JSON.stringify(rule));
      assert.ok((await res.json()).error_description);
    }
    assert.deepEqual((await getJson(`${base}/__test/fail`)).json, []);
  });
});

describe('JWT access tokens and restarts', () => {
  let jwtIdp;
  before(async () => {
    jwtIdp = await startServer([
      '--jwks-file', jwksFile, '--jwt-access-tokens', '--quiet',
      '--redirect-uri-prefix', 'https://app.example.test/',
      '--client-secret', 'other-secret',
    ]);
  });
  after(async () => { await jwtIdp?.stop(); });

  test('access tokens are RS256 JWTs (typ at+jwt), also after refresh', async () => {
    const auth = { authorization: basic('kong', 'other-secret') };
    const token = `${jwtIdp.url}/token`;
    const { status, json } = await postForm(token, {
      grant_type: 'password', username: 'jane', password: 'doe', scope: 'openid',
    }, auth);
    assert.equal(status, 200);
    const jwks = (await getJson(`${jwtIdp.url}/jwks`)).json;
    const at = decodeJwt(json.access_token);
    assert.equal(at.header.typ, 'at+jwt');
    assert.equal(at.header.alg, 'RS256');
    assert.equal(at.payload.sub, 'user-jane');
    assert.equal(at.payload.aud, 'kong');
    assert.equal(at.payload.iss, jwtIdp.url);
    assert.ok(rs256Verifies(json.access_token, jwks));

    const refreshed = await postForm(token, { grant_type: 'refresh_token', refresh_token: json.refresh_token }, auth);
    assert.equal(decodeJwt(refreshed.json.access_token).header.typ, 'at+jwt');

    const introspected = await postForm(`${jwtIdp.url}/token/introspection`, { token: json.access_token }, auth);
    assert.equal(introspected.json.error, 'unsupported_token_type', 'JWT access tokens are not stored');
    const userinfo = await fetch(`${jwtIdp.url}/me`, { headers: { authorization: `Bearer ${json.access_token}` } });
    assert.equal(userinfo.status, 401, 'userinfo refuses access tokens meant for the resource server');
  });

  test('a restart with the same jwks file keeps the keys', async () => {
    const first = (await getJson(`${base}/jwks`)).json.keys.map((k) => k.kid);
    const second = (await getJson(`${jwtIdp.url}/jwks`)).json.keys.map((k) => k.kid);
    assert.deepEqual(second, first);
  });

  test('--client-secret replaces the secret; --redirect-uri-prefix widens redirect URIs', async () => {
    const old = await postForm(`${jwtIdp.url}/token`, { grant_type: 'client_credentials' }, { authorization: KONG });
    assert.equal(old.status, 401);
    const logout = (uri) => fetch(`${jwtIdp.url}/session/end?client_id=kong&post_logout_redirect_uri=${encodeURIComponent(uri)}`, { redirect: 'manual' });
    assert.equal((await logout('https://app.example.test/bye')).status, 303);
    assert.equal((await logout('https://other.example.test/bye')).status, 400);
  });
});
