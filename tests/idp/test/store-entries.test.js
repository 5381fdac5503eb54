// --store-entries: the memory store's size. With the library's ~1000 entries, a refresh token
// of a grant made a few hundred logins earlier is forgotten (invalid_grant); bench/run.sh's
// thousands of sessions need the larger store.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { basic, postForm, startServer } from './helpers.js';

const client = { authorization: basic('kong', 'secret') };
const LOGINS = 600;

// Logs in LOGINS times and refreshes with the first login's refresh token.
async function refreshOfTheFirstLogin(args) {
  const idp = await startServer(['--quiet', ...args]);
  try {
    const discovery = await (await fetch(`${idp.url}/.well-known/openid-configuration`)).json();
    const login = async () => {
      const { status, json } = await postForm(discovery.token_endpoint, {
        grant_type: 'password', username: 'john', password: 'doe', scope: 'openid',
      }, client);
      assert.equal(status, 200);
      return json;
    };
    const first = await login();
    for (let i = 1; i < LOGINS; i += 1) await login();
    return (await postForm(discovery.token_endpoint, {
      grant_type: 'refresh_token', refresh_token: first.refresh_token,
    }, client)).status;
  } finally {
    await idp.stop();
  }
}

test('a larger store keeps the grants of many logins', async () => {
  assert.equal(await refreshOfTheFirstLogin(['--store-entries', '20000']), 200);
});

test('the default store forgets the oldest grants', async () => {
  assert.equal(await refreshOfTheFirstLogin([]), 400);
});
