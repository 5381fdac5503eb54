// Helpers for the IdP's tests: start the real server as a child process, a
// tiny cookie jar, token decoding and signature checks.
import { spawn } from 'node:child_process';
import {
  createHash, createPublicKey, randomBytes, verify as verifySignature,
} from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const serverJs = path.join(path.dirname(path.dirname(fileURLToPath(import.meta.url))), 'server.js');

export function tempDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'test-idp-'));
}

// Starts `node server.js --port 0 ...args`; resolves with { url, stop, log }
// once the ready line is printed. `stop` kills the process and waits.
export function startServer(args = [], { script = serverJs, readyPattern = /listening on (http:\/\/\S+)/ } = {}) {
  const child = spawn(process.execPath, [script, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  const exited = new Promise((resolve) => { child.once('exit', resolve); });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`server did not start within 15 s:\n${log.join('')}`));
    }, 15000);
    let buffered = '';
    child.stdout.on('data', (chunk) => {
      log.push(chunk.toString());
      buffered += chunk.toString();
      const match = readyPattern.exec(buffered);
      if (match) {
        clearTimeout(timer);
        resolve({ url: match[1], stop, log, child });
      }
    });
    child.stderr.on('data', (chunk) => log.push(chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before it was ready:\n${log.join('')}`));
    });
  });
}

export function basic(user, password) {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export async function postForm(url, fields, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
    redirect: 'manual',
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export function decodeJwt(token) {
  const [header, payload, signature] = token.split('.');
  const decode = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  return {
    header: decode(header), payload: decode(payload), signingInput: `${header}.${payload}`, signature,
  };
}

// True when an RS256 JWT is signed by one of the keys in `jwks`.
export function rs256Verifies(token, jwks) {
  const { header, signingInput, signature } = decodeJwt(token);
  const jwk = jwks.keys.find((key) => key.kid === header.kid);
  if (!jwk || header.alg !== 'RS256') return false;
  return verifySignature(
    'RSA-SHA256',
    Buffer.from(signingInput),
    createPublicKey({ key: jwk, format: 'jwk' }),
    Buffer.from(signature, 'base64url'),
  );
}

// Enough of a cookie jar for one host: keeps name=value, forgets expired ones.
export class CookieJar {
  #cookies = new Map();

  store(res) {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';').map((part) => part.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const expired = attributes.some((attr) => /^expires=.*1970/i.test(attr)) || value === '';
      if (expired) this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  has(name) {
    return this.#cookies.has(name);
  }

  header() {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  // fetch without following redirects, sending and storing cookies.
  async fetch(url, init = {}) {
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers ?? {}), cookie: this.header() },
    });
    this.store(res);
    return res;
  }
}

// The authorization request of client kong (code flow, PKCE S256) to `redirectUri`.
export function authorizeUrl(discovery, redirectUri, challenge) {
  return `${discovery.authorization_endpoint}?${new URLSearchParams({
    client_id: 'kong', response_type: 'code', scope: 'openid', redirect_uri: redirectUri,
    state: 's', nonce: 'n', code_challenge: challenge, code_challenge_method: 'S256',
  })}`;
}

// Logs john in as a browser does (authorization request, the login form, the
// redirect with the code), then redeems the code as client kong; returns the
// token endpoint's JSON answer.
export async function codeLogin(jar, idpUrl, discovery, redirectUri) {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const start = await jar.fetch(authorizeUrl(discovery, redirectUri, challenge));
  const page = await jar.fetch(new URL(start.headers.get('location'), idpUrl));
  const action = /<form method="post" action="([^"]+)"/.exec(await page.text())?.[1];
  const login = await jar.fetch(new URL(action, idpUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username: 'john', password: 'doe' }).toString(),
  });
  const resume = await jar.fetch(new URL(login.headers.get('location'), idpUrl));
  const code = new URL(resume.headers.get('location')).searchParams.get('code');
  const tokens = await postForm(discovery.token_endpoint, {
    grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier,
  }, { authorization: basic('kong', 'secret') });
  if (tokens.status !== 200) throw new Error(`code redemption answered ${tokens.status}`);
  return tokens.json;
}
