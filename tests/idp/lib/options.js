// Command-line flags and IDP_* environment variables of the test IdP.
// A flag wins over its environment variable; both win over the default.
import { parseArgs } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const idpDir = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

export const DEFAULT_JWKS_FILE = path.join(idpDir, '.keys', 'jwks.json');

const FLAGS = {
  port: { type: 'string', env: 'IDP_PORT' },
  host: { type: 'string', env: 'IDP_HOST' },
  issuer: { type: 'string', env: 'IDP_ISSUER' },
  'jwt-access-tokens': { type: 'boolean', env: 'IDP_JWT_ACCESS_TOKENS' },
  'jwt-audience': { type: 'string', env: 'IDP_JWT_AUDIENCE' },
  'jwks-file': { type: 'string', env: 'IDP_JWKS_FILE' },
  'client-secret': { type: 'string', env: 'IDP_CLIENT_SECRET' },
  'redirect-uri-prefix': { type: 'string', multiple: true, env: 'IDP_REDIRECT_URI_PREFIX' },
  'access-token-ttl': { type: 'string', env: 'IDP_ACCESS_TOKEN_TTL' },
  'refresh-token-ttl': { type: 'string', env: 'IDP_REFRESH_TOKEN_TTL' },
  'rotate-refresh-tokens': { type: 'boolean', env: 'IDP_ROTATE_REFRESH_TOKENS' },
  'store-entries': { type: 'string', env: 'IDP_STORE_ENTRIES' },
  'no-end-session': { type: 'boolean', env: 'IDP_NO_END_SESSION' },
  'no-revocation': { type: 'boolean', env: 'IDP_NO_REVOCATION' },
  'revocation-only-in-oauth-metadata': { type: 'boolean', env: 'IDP_REVOCATION_ONLY_IN_OAUTH_METADATA' },
  'backchannel-logout-uri': { type: 'string', env: 'IDP_BACKCHANNEL_LOGOUT_URI' },
  quiet: { type: 'boolean', env: 'IDP_QUIET' },
  help: { type: 'boolean' },
};

export const USAGE = `usage: node tests/idp/server.js [options]
  --port N                   listen port (default 8080; 0 picks a free one)      IDP_PORT
  --host ADDR                listen address (default 127.0.0.1)                   IDP_HOST
  --issuer URL               issuer (default http://<host>:<port>)                IDP_ISSUER
  --jwt-access-tokens        issue RS256 JWT access tokens (typ at+jwt)           IDP_JWT_ACCESS_TOKENS=1
  --jwt-audience AUD         aud of JWT access tokens (default: the client id)    IDP_JWT_AUDIENCE
  --jwks-file PATH           signing keys, created if missing                     IDP_JWKS_FILE
                             (default tests/idp/.keys/jwks.json)
  --client-secret S          secret of clients kong and kong-post (default secret) IDP_CLIENT_SECRET
  --redirect-uri-prefix P    also accept redirect / post-logout URIs starting     IDP_REDIRECT_URI_PREFIX
                             with P (repeatable; env: comma-separated)
  --access-token-ttl SECS    access and ID token lifetime (default 3600)          IDP_ACCESS_TOKEN_TTL
  --refresh-token-ttl SECS   refresh token lifetime (default 86400)               IDP_REFRESH_TOKEN_TTL
  --rotate-refresh-tokens    a refresh answers a new refresh token and the old    IDP_ROTATE_REFRESH_TOKENS=1
                             one stops working (default: the same one is kept)
  --store-entries N          grants, tokens and sessions kept in memory (default  IDP_STORE_ENTRIES
                             1000, the library's; older ones are forgotten: a
                             refresh of a forgotten grant is invalid_grant)
  --no-end-session           no RP-initiated logout: discovery has no             IDP_NO_END_SESSION=1
                             end_session_endpoint (tests of the RP's fallbacks)
  --no-revocation            no token revocation endpoint in discovery            IDP_NO_REVOCATION=1
  --revocation-only-in-oauth-metadata                                             IDP_REVOCATION_ONLY_IN_OAUTH_METADATA=1
                             revocation and introspection endpoints only in the
                             RFC 8414 document /.well-known/oauth-authorization-
                             server, not in discovery (as django-oauth-toolkit)
  --backchannel-logout-uri U enable Back-Channel Logout 1.0: client kong gets      IDP_BACKCHANNEL_LOGOUT_URI
                             this backchannel_logout_uri (sid required), and
                             ending an IdP session POSTs it a logout_token
  --quiet                    no per-request log lines                             IDP_QUIET=1
`;

function envBoolean(value) {
  return value !== undefined && !['', '0', 'false', 'no', 'off'].includes(value.toLowerCase());
}

function positiveInteger(name, raw, { allowZero = false } = {}) {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < (allowZero ? 0 : 1) || value > 2 ** 31) {
    throw new Error(`--${name} must be ${allowZero ? 'a non-negative' : 'a positive'} integer, got "${raw}"`);
  }
  return value;
}

// Returns the raw value of each flag, taking the environment into account.
function rawValues(argv, env) {
  const parseOptions = Object.fromEntries(
    Object.entries(FLAGS).map(([name, { type, multiple }]) => [name, { type, multiple: Boolean(multiple) }]),
  );
  const { values } = parseArgs({ args: argv, options: parseOptions, strict: true });
  const merged = {};
  for (const [name, spec] of Object.entries(FLAGS)) {
    if (values[name] !== undefined) {
      merged[name] = values[name];
    } else if (spec.env && env[spec.env] !== undefined) {
      const fromEnv = env[spec.env];
      if (spec.type === 'boolean') merged[name] = envBoolean(fromEnv);
      else if (spec.multiple) merged[name] = fromEnv.split(',').map((s) => s.trim()).filter(Boolean);
      else merged[name] = fromEnv;
    }
  }
  return merged;
}

// Parses flags and environment into the IdP's options. Throws Error with a
// message naming the flag on bad input.
export function parseOptions(argv = process.argv.slice(2), env = process.env) {
  const raw = rawValues(argv, env);
  const options = {
    help: Boolean(raw.help),
    port: raw.port === undefined ? 8080 : positiveInteger('port', raw.port, { allowZero: true }),
    host: raw.host ?? '127.0.0.1',
    issuer: raw.issuer,
    jwtAccessTokens: Boolean(raw['jwt-access-tokens']),
    jwtAudience: raw['jwt-audience'],
    jwksFile: raw['jwks-file'] ? path.resolve(raw['jwks-file']) : DEFAULT_JWKS_FILE,
    clientSecret: raw['client-secret'] ?? 'secret',
    redirectUriPrefixes: raw['redirect-uri-prefix'] ?? [],
    accessTokenTtl: raw['access-token-ttl'] === undefined ? 3600 : positiveInteger('access-token-ttl', raw['access-token-ttl']),
    refreshTokenTtl: raw['refresh-token-ttl'] === undefined ? 86400 : positiveInteger('refresh-token-ttl', raw['refresh-token-ttl']),
    rotateRefreshTokens: Boolean(raw['rotate-refresh-tokens']),
    storeEntries: raw['store-entries'] === undefined ? 1000 : positiveInteger('store-entries', raw['store-entries']),
    noEndSession: Boolean(raw['no-end-session']),
    noRevocation: Boolean(raw['no-revocation']),
    revocationOnlyInOauthMetadata: Boolean(raw['revocation-only-in-oauth-metadata']),
    backchannelLogoutUri: raw['backchannel-logout-uri'],
    quiet: Boolean(raw.quiet),
  };
  if (options.port > 65535) throw new Error(`--port must be at most 65535, got ${options.port}`);
  if (options.issuer !== undefined) {
    try {
      new URL(options.issuer); // eslint-disable-line no-new
    } catch {
      throw new Error(`--issuer must be an absolute URL, got "${options.issuer}"`);
    }
  }
  if (options.backchannelLogoutUri !== undefined && !URL.canParse(options.backchannelLogoutUri)) {
    throw new Error(`--backchannel-logout-uri must be an absolute URL, got "${options.backchannelLogoutUri}"`);
  }
  if (!options.clientSecret) throw new Error('--client-secret must not be empty');
  return options;
}
