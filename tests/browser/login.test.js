// Browser login through the gateway in real headless Chromium (Debian's /usr/bin/chromium,
// never a downloaded browser), driven by playwright-core. The test starts its own stack on free
// ports: the test IdP, the echo upstream and target/debug/gateway loading the filter built by
// `make wasm`, with a generated config. Everything it starts is stopped in `after`, also when a
// step fails.
//
// The flow: a protected page redirects to the IdP's login page; john/doe is typed in; the browser
// lands on the page it asked for and the upstream sees the bearer token; a reload keeps the
// session; a form POST to the logout suffix ends the session, revokes the tokens and goes through
// the IdP's end_session to the logged-out page; the protected page then asks for a login again.
// The login page is saved as target/browser-login.png; with UPDATE_SCREENSHOT=1 instead as
// docs/browser-login.png (the README's picture), so a normal run leaves the tree clean.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const GATEWAY = join(ROOT, 'target/debug/gateway');
const FILTER = join(ROOT, 'target/filters/openid_connect.wasm');
const SCREENSHOT = join(ROOT, process.env.UPDATE_SCREENSHOT ? 'docs/browser-login.png' : 'target/browser-login.png');
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

const work = mkdtempSync(join(tmpdir(), 'oidc-browser-'));
const children = [];
let context;
let ports;

function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

// Starts a process with its output in <work>/<name>.log.
function start(name, command, args) {
  const log = openSync(join(work, `${name}.log`), 'w');
  const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', log, log] });
  children.push({ name, child });
  return child;
}

function logOf(name) {
  try {
    return readFileSync(join(work, `${name}.log`), 'utf8');
  } catch {
    return '';
  }
}

// Polls until the URL answers (any status), for up to 30 s.
async function waitUntilUp(url, name) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${name} did not come up at ${url}:\n${logOf(name)}`);
}

function gatewayConfig({ proxy, admin, idp, echo }) {
  const app = '7d3c9a7e-0c51-4a34-9a77-5d0b8e3c1a01';
  return {
    proxy_listen: `127.0.0.1:${proxy}`,
    admin_listen: `127.0.0.1:${admin}`,
    workers: 2,
    services: [
      {
        id: app,
        name: 'app',
        url: `http://127.0.0.1:${echo}`,
        routes: [{ id: '7d3c9a7e-0c51-4a34-9a77-5d0b8e3c1a02', paths: ['/'] }],
      },
      {
        // The page logout returns to: not protected.
        id: '7d3c9a7e-0c51-4a34-9a77-5d0b8e3c1a03',
        name: 'public',
        url: `http://127.0.0.1:${echo}`,
        routes: [{ id: '7d3c9a7e-0c51-4a34-9a77-5d0b8e3c1a04', paths: ['/logged-out'], strip_path: false }],
      },
    ],
    plugins: [{
      id: '7d3c9a7e-0c51-4a34-9a77-5d0b8e3c1a05',
      name: 'openid-connect',
      wasm: FILTER,
      service: app,
      config: {
        issuer: `http://127.0.0.1:${idp}`,
        client_id: ['kong'],
        client_secret: ['secret'],
        session_secret: 'browser-test-session-secret',
        auth_methods: ['authorization_code', 'session'],
        login_action: 'redirect',
        login_tokens: [],
        preserve_query_args: true,
        logout_uri_suffix: '/logout',
        logout_methods: ['POST'],
        logout_revoke: true,
        logout_redirect_uri: [`http://127.0.0.1:${proxy}/logged-out`],
      },
    }],
  };
}

before(async () => {
  for (const [what, path] of [['Chromium', CHROMIUM], ['the gateway', GATEWAY], ['the filter', FILTER]]) {
    assert.ok(existsSync(path), `${what} is missing at ${path}: run \`make browser-deps wasm gateway\``);
  }
  ports = { proxy: await freePort(), admin: await freePort(), idp: await freePort(), echo: await freePort() };
  start('idp', process.execPath, [
    'tests/idp/server.js', '--port', String(ports.idp), '--jwks-file', join(work, 'jwks.json'), '--quiet',
  ]);
  start('echo', process.execPath, ['tests/echo/server.js', '--port', String(ports.echo)]);
  await waitUntilUp(`http://127.0.0.1:${ports.idp}/.well-known/openid-configuration`, 'idp');
  await waitUntilUp(`http://127.0.0.1:${ports.echo}/`, 'echo');
  // JSON is YAML: the gateway reads it as its config file.
  const config = join(work, 'gateway.yaml');
  writeFileSync(config, JSON.stringify(gatewayConfig(ports), null, 2));
  start('gateway', GATEWAY, ['--config', config]);
  await waitUntilUp(`http://127.0.0.1:${ports.admin}/`, 'gateway');

  context = await chromium.launchPersistentContext(join(work, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 900, height: 620 },
  });
});

after(async () => {
  await context?.close().catch(() => {});
  for (const { child } of children) child.kill('SIGTERM');
  await Promise.all(children.map(({ child }) => (child.exitCode !== null ? null
    : new Promise((r) => { child.once('exit', r); setTimeout(() => { child.kill('SIGKILL'); r(); }, 5000); }))));
  if (!process.env.KEEP_BROWSER_LOGS) rmSync(work, { recursive: true, force: true });
});

// The echo upstream's JSON, as the page shows it.
async function echoed(page) {
  return JSON.parse(await page.locator('body').innerText());
}

test('browser login with the IdP login page, session reload, logout and login again', { timeout: 120_000 }, async () => {
  const app = `http://127.0.0.1:${ports.proxy}`;
  const idp = `http://127.0.0.1:${ports.idp}`;
  const page = context.pages()[0] ?? await context.newPage();
  try {
    // A protected page sends the browser to the IdP's login page.
    await page.goto(`${app}/dashboard?tab=reports`);
    assert.ok(page.url().startsWith(`${idp}/interaction/`), `on the IdP's login page: ${page.url()}`);
    await page.getByLabel('Username').fill('john');
    await page.getByLabel('Password').fill('doe');
    await page.screenshot({ path: SCREENSHOT, clip: { x: 0, y: 0, width: 420, height: 230 } });
    await Promise.all([page.waitForURL(`${app}/**`), page.getByRole('button', { name: 'Sign in' }).click()]);

    // Back on the page asked for, with its query; the upstream sees the bearer token.
    assert.equal(page.url(), `${app}/dashboard?tab=reports`);
    const first = await echoed(page);
    assert.equal(first.path, '/dashboard');
    assert.equal(first.query.tab, 'reports');
    assert.match(first.headers.authorization ?? '', /^Bearer \S+$/);
    // The IdP's own cookies come along (cookies do not separate by port); ours never do.
    assert.doesNotMatch(first.headers.cookie ?? '', /(^|;\s*)(session|authorization)=/, 'no filter cookie upstream');
    const cookies = await context.cookies(app);
    assert.ok(cookies.some((c) => c.name === 'session' && c.httpOnly), 'an HttpOnly session cookie');
    assert.ok(!cookies.some((c) => c.name === 'authorization'), 'the authorization cookie is gone');

    // A reload keeps the session: same token, no visit to the IdP.
    const idpRequests = [];
    page.on('request', (request) => { if (request.url().startsWith(idp)) idpRequests.push(request.url()); });
    await page.reload();
    assert.equal(page.url(), `${app}/dashboard?tab=reports`);
    assert.equal((await echoed(page)).headers.authorization, first.headers.authorization);
    assert.deepEqual(idpRequests, []);

    // Logout: a form POST to the logout suffix, through the IdP's end_session, to the logged-out page.
    await Promise.all([
      page.waitForURL(`${app}/logged-out**`),
      page.evaluate(() => {
        const form = document.createElement('form');
        form.method = 'POST';
        form.action = '/dashboard/logout';
        document.body.appendChild(form);
        form.submit();
      }),
    ]);
    const loggedOut = await echoed(page);
    assert.equal(loggedOut.path, '/logged-out');
    assert.equal(loggedOut.headers.authorization, undefined);
    assert.ok(idpRequests.some((url) => url.startsWith(`${idp}/session/end`)), `went through end_session: ${idpRequests}`);
    assert.ok(!(await context.cookies(app)).some((c) => c.name === 'session'), 'the session cookie is gone');
    const events = await (await fetch(`${idp}/__test/events`)).json();
    assert.equal(events.filter((e) => e.type === 'revocation').length, 2, 'refresh and access token revoked');
    assert.equal(events.filter((e) => e.type === 'end_session').at(-1)?.op_session, true, 'the IdP session ended');

    // The protected page now asks for a login again.
    await page.goto(`${app}/dashboard`);
    assert.ok(page.url().startsWith(`${idp}/interaction/`), `back on the login page: ${page.url()}`);
    await page.getByLabel('Password').waitFor();
  } catch (error) {
    error.message += `\n--- gateway log ---\n${logOf('gateway').slice(-4000)}`;
    throw error;
  }
});
