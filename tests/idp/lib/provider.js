// The oidc-provider instance: clients, features, token formats, and the
// extensions the tests need (password grant, direct logout, event recording).
import Provider, { errors } from 'oidc-provider';
import LRU from 'oidc-provider/lib/helpers/lru.js';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import { CLAIMS, SCOPES, findAccount } from './accounts.js';
import { ROUTES } from './endpoints.js';
import { escapeHtml, htmlPage } from './http-util.js';
import { directLogoutMiddleware, loggedOutPage } from './logout.js';
import { oauthMetadataMiddleware } from './oauth-metadata.js';
import { PASSWORD_GRANT_PARAMS, passwordGrantHandler } from './password-grant.js';
import { recorderMiddleware } from './recorder.js';

// The resource server that JWT access tokens are issued for (--jwt-access-tokens).
export const JWT_RESOURCE = 'urn:openid-connect-test:api';

const GRANT_TYPES = ['authorization_code', 'refresh_token', 'password', 'client_credentials'];

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

const COOKIE_OPTIONS = { httpOnly: true, sameSite: 'lax' };

// With a back-channel logout URI, client kong is registered for Back-Channel
// Logout 1.0 with sid required (so its ID tokens carry the session's sid).
function clientsFor(secret, backchannelLogoutUri) {
  const origins = ['http://127.0.0.1:8000', 'http://localhost:8000'];
  const common = {
    client_secret: secret,
    grant_types: GRANT_TYPES,
    response_types: ['code'],
    redirect_uris: origins.flatMap((origin) => [`${origin}/`, `${origin}/callback`]),
    post_logout_redirect_uris: origins.flatMap((origin) => [`${origin}/`, `${origin}/logged-out`]),
  };
  return [
    {
      ...common,
      client_id: 'kong',
      token_endpoint_auth_method: 'client_secret_basic',
      ...(backchannelLogoutUri && {
        backchannel_logout_uri: backchannelLogoutUri,
        backchannel_logout_session_required: true,
      }),
    },
    { ...common, client_id: 'kong-post', token_endpoint_auth_method: 'client_secret_post' },
  ];
}

// Tests run gateways on random ports, so on top of the registered URIs any
// http(s) URI on a loopback host is accepted, and any URI that starts with
// one of the configured prefixes.
function extraUriAllowed(uri, prefixes) {
  if (prefixes.some((prefix) => uri.startsWith(prefix))) return true;
  const parsed = URL.parse(uri);
  return Boolean(parsed)
    && (parsed.protocol === 'http:' || parsed.protocol === 'https:')
    && LOOPBACK_HOSTS.has(parsed.hostname)
    && parsed.hash === '';
}

function widenRedirectUris(provider, prefixes) {
  const { prototype } = provider.Client;
  const exactRedirect = prototype.redirectUriAllowed;
  const exactPostLogout = prototype.postLogoutRedirectUriAllowed;
  prototype.redirectUriAllowed = function redirectUriAllowed(uri) {
    return exactRedirect.call(this, uri) || extraUriAllowed(uri, prefixes);
  };
  prototype.postLogoutRedirectUriAllowed = function postLogoutRedirectUriAllowed(uri) {
    return exactPostLogout.call(this, uri) || extraUriAllowed(uri, prefixes);
  };
}

// JWT access tokens need a resource server whose format is `jwt`: every
// request defaults to ours. Returns the resourceIndicators feature and, for
// the password grant (which resolves the resource itself), a resolver.
function jwtResourceServer(options) {
  if (!options.jwtAccessTokens) return { feature: { enabled: false }, resolve: undefined };
  const info = (client) => ({
    scope: SCOPES.join(' '),
    audience: options.jwtAudience ?? client.clientId,
    accessTokenFormat: 'jwt',
    accessTokenTTL: options.accessTokenTtl,
    jwt: { sign: { alg: 'RS256' } },
  });
  return {
    feature: {
      enabled: true,
      defaultResource: async () => JWT_RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resource, client) => {
        if (resource !== JWT_RESOURCE) throw new errors.InvalidTarget(`unknown resource, use ${JWT_RESOURCE}`);
        return info(client);
      },
    },
    resolve: async (_ctx, client) => ({ identifier: JWT_RESOURCE, info: info(client) }),
  };
}

// Creates the provider. `options` are those of lib/options.js; `issuer` is
// final (the port is known); `events` is the EventLog.
export function createProvider({ issuer, options, jwks, events }) {
  // The library's memory store keeps about 1000 entries (a grant, its tokens and its session
  // are several), then forgets the oldest: with more sessions than that, their refreshes are
  // invalid_grant. Benchmarks with thousands of sessions ask for a larger store.
  let adapter;
  if (options.storeEntries !== undefined && options.storeEntries !== 1000) {
    const store = new LRU({ maxSize: options.storeEntries });
    adapter = (model) => new MemoryAdapter(model, store);
  }
  const jwtResource = jwtResourceServer(options);

  const provider = new Provider(issuer, {
    ...(adapter ? { adapter } : {}),
    clients: clientsFor(options.clientSecret, options.backchannelLogoutUri),
    jwks,
    findAccount,
    claims: CLAIMS,
    scopes: SCOPES,
    routes: ROUTES,
    conformIdTokenClaims: false,
    // Refresh tokens for every client allowed the refresh_token grant, not
    // only when offline_access was requested and consented.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: options.rotateRefreshTokens,
    cookies: { keys: ['openid-connect-test-idp'], long: COOKIE_OPTIONS, short: COOKIE_OPTIONS },
    ttl: {
      AccessToken: options.accessTokenTtl,
      AuthorizationCode: 60,
      ClientCredentials: options.accessTokenTtl,
      Grant: options.refreshTokenTtl,
      IdToken: options.accessTokenTtl,
      Interaction: 3600,
      RefreshToken: options.refreshTokenTtl,
      Session: 86400,
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // Any of our clients may introspect any token (Kong's introspection
      // auth method uses the configured client); RFC 7009 lets a client
      // revoke only its own tokens.
      introspection: { enabled: true, allowedPolicy: async () => true },
      revocation: {
        enabled: !options.noRevocation,
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      userinfo: { enabled: true },
      backchannelLogout: { enabled: Boolean(options.backchannelLogoutUri) },
      resourceIndicators: jwtResource.feature,
      rpInitiatedLogout: {
        enabled: !options.noEndSession,
        // Replaced by directLogoutMiddleware's answer; kept plain in case.
        logoutSource: async (ctx, form) => {
          ctx.body = htmlPage('Log out', `${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">Log out</button>`);
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.body = loggedOutPage(ctx.oidc.client?.clientId);
        },
      },
    },
    // The library's outgoing requests refuse loopback addresses (SSRF
    // protection through its own dispatcher); every relying party of the tests
    // is on loopback, so the test IdP fetches without that dispatcher.
    fetch: (url, { dispatcher, ...options }) => globalThis.fetch(url, options),
    renderError: async (ctx, out) => {
      ctx.state.idpError = out;
      ctx.type = 'html';
      ctx.body = htmlPage('Error', `<h1>${escapeHtml(out.error)}</h1>\n<p>${escapeHtml(out.error_description ?? '')}</p>`);
    },
  });

  widenRedirectUris(provider, options.redirectUriPrefixes);
  provider.registerGrantType(
    'password',
    passwordGrantHandler({ jwtResource: jwtResource.resolve }),
    PASSWORD_GRANT_PARAMS,
  );
  provider.use(recorderMiddleware(events));
  if (options.revocationOnlyInOauthMetadata) provider.use(oauthMetadataMiddleware());
  // Back-channel logouts are sent from inside a request: record their outcome.
  provider.on('backchannel.success', (_ctx, client, accountId, sid) => {
    events.record({ type: 'backchannel_logout', client_id: client.clientId, sub: accountId, sid, ok: true });
  });
  provider.on('backchannel.error', (_ctx, err, client, accountId, sid) => {
    events.record({
      type: 'backchannel_logout', client_id: client.clientId, sub: accountId, sid, ok: false, error: err.message,
    });
  });
  provider.use(directLogoutMiddleware({ cookieOptions: COOKIE_OPTIONS }));
  return provider;
}
