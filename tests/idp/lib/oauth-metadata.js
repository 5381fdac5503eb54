// RFC 8414 mode (--revocation-only-in-oauth-metadata): the provider publishes
// its revocation and introspection endpoints only in its OAuth 2.0
// Authorization Server Metadata (/.well-known/oauth-authorization-server), not
// in its OpenID discovery document, as django-oauth-toolkit does. Relying
// parties that read discovery alone then find neither endpoint.
// oidc-provider serves both documents with the same content; this mode strips
// discovery and trims the RFC 8414 one to RFC 8414 members.
import { DISCOVERY_PATH, OAUTH_METADATA_PATH } from './endpoints.js';

// Members that move from discovery to the RFC 8414 document.
const MOVED = [
  'revocation_endpoint',
  'revocation_endpoint_auth_methods_supported',
  'revocation_endpoint_auth_signing_alg_values_supported',
  'introspection_endpoint',
  'introspection_endpoint_auth_methods_supported',
  'introspection_endpoint_auth_signing_alg_values_supported',
];

// The RFC 8414 members the document carries besides the moved ones.
const OAUTH_MEMBERS = [
  'issuer',
  'authorization_endpoint',
  'token_endpoint',
  'jwks_uri',
  'registration_endpoint',
  'scopes_supported',
  'response_types_supported',
  'response_modes_supported',
  'grant_types_supported',
  'token_endpoint_auth_methods_supported',
  'token_endpoint_auth_signing_alg_values_supported',
  'code_challenge_methods_supported',
  ...MOVED,
];

function pick(object, names) {
  return Object.fromEntries(names.filter((name) => object[name] !== undefined).map((name) => [name, object[name]]));
}

function isDocument(ctx) {
  return ctx.status === 200 && ctx.body !== null && typeof ctx.body === 'object' && !Buffer.isBuffer(ctx.body);
}

// Koa middleware for provider.use(): trims the provider's RFC 8414 document
// to RFC 8414 members and strips the moved members from discovery.
export function oauthMetadataMiddleware() {
  return async function oauthMetadata(ctx, next) {
    await next();
    if (!isDocument(ctx)) return;
    if (ctx.path === OAUTH_METADATA_PATH) {
      ctx.body = pick(ctx.body, OAUTH_MEMBERS);
    } else if (ctx.path === DISCOVERY_PATH) {
      ctx.body = Object.fromEntries(Object.entries(ctx.body).filter(([name]) => !MOVED.includes(name)));
    }
  };
}
