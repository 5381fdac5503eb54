// The HTTP server in front of oidc-provider: request log, the /__test/ API, the
// fault switch, the login pages, then the provider itself.
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { AccountIndex } from './end-user.js';
import { endpointOf } from './endpoints.js';
import { handleInteraction } from './interactions.js';
import { loadOrCreateJwks } from './keys.js';
import { createProvider, JWT_RESOURCE } from './provider.js';
import { describeRequest } from './recorder.js';
import { parseForm, readBody, sendJson } from './http-util.js';
import { EventLog, FaultSwitch, handleTestApi } from './test-api.js';

function logRequests(req, res, quiet) {
  if (quiet) return;
  const started = process.hrtime.bigint();
  res.on('close', () => {
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const target = req.url.length > 160 ? `${req.url.slice(0, 160)}...` : req.url;
    const status = res.writableFinished ? res.statusCode : 'aborted';
    process.stdout.write(`${new Date().toISOString()} ${req.method} ${target} ${status} ${ms.toFixed(1)}ms\n`);
  });
}

function recordInjected(events, req, url, endpoint, rule, form, extra) {
  events.record({
    type: endpoint,
    method: req.method,
    ...extra,
    injected: rule,
    ...describeRequest(endpoint, {
      query: Object.fromEntries(url.searchParams), form, headers: req.headers,
    }),
  });
}

// Applies a fault rule. Returns true when the request has been answered (or
// dropped) here; false when it should go on to the provider after the delay.
// Requests answered here have no HTTP status in their event when none was
// sent: `status` is null and `aborted` says why.
async function applyFault(req, res, url, endpoint, rule, events) {
  if (rule.delay_ms) {
    const gone = new AbortController();
    res.on('close', () => gone.abort());
    try {
      await sleep(rule.delay_ms, undefined, { signal: gone.signal });
    } catch {
      recordInjected(events, req, url, endpoint, rule, {}, { status: null, aborted: 'client_closed' });
      return true;
    }
  }
  if (rule.status === undefined && !rule.drop) {
    req.injectedFault = rule;
    return false;
  }
  const form = req.method === 'POST' ? parseForm(await readBody(req).catch(() => '')) : {};
  if (rule.drop) {
    recordInjected(events, req, url, endpoint, rule, form, { status: null, aborted: 'dropped' });
    req.socket.destroy();
  } else {
    recordInjected(events, req, url, endpoint, rule, form, { status: rule.status });
    sendJson(res, rule.status, { error: 'server_error', error_description: `injected failure (${endpoint})` });
  }
  return true;
}

// Starts the IdP; resolves once it accepts requests.
export async function startIdp(options) {
  const events = new EventLog();
  const faults = new FaultSwitch();
  const jwks = loadOrCreateJwks(options.jwksFile);

  // Until the provider exists (the issuer needs the bound port), say so.
  let handle = (_req, res) => sendJson(res, 503, { error: 'temporarily_unavailable', error_description: 'starting' });
  const server = http.createServer((req, res) => handle(req, res));
  server.keepAliveTimeout = 5000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address();
  const hostForUrl = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${hostForUrl}:${port}`;
  const issuer = options.issuer ?? url;

  const provider = createProvider({
    issuer, options, jwks, events,
  });
  const providerCallback = provider.callback();
  const accounts = new AccountIndex(provider);
  const interactionContext = {
    provider,
    resourceIdentifier: options.jwtAccessTokens ? JWT_RESOURCE : undefined,
  };

  handle = async (req, res) => {
    logRequests(req, res, options.quiet);
    try {
      const requestUrl = new URL(req.url, url);
      if (await handleTestApi(req, res, requestUrl, {
        events, faults, issuer, provider, accounts,
      })) return;
      const endpoint = endpointOf(requestUrl.pathname);
      const rule = endpoint ? faults.take(endpoint) : undefined;
      if (rule && await applyFault(req, res, requestUrl, endpoint, rule, events)) return;
      if (await handleInteraction(req, res, requestUrl, interactionContext)) return;
      providerCallback(req, res);
    } catch (err) {
      process.stderr.write(`request failed: ${err.stack ?? err}\n`);
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: err.message });
      else res.destroy();
    }
  };

  return {
    server,
    port,
    url,
    issuer,
    events,
    faults,
    provider,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
