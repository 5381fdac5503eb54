// The provider's endpoint paths, in one place: the provider is configured with
// them, and the event log and the fault switch name requests by them.

export const ROUTES = {
  authorization: '/auth',
  token: '/token',
  revocation: '/token/revocation',
  introspection: '/token/introspection',
  end_session: '/session/end',
  userinfo: '/me',
  jwks: '/jwks',
};

export const DISCOVERY_PATH = '/.well-known/openid-configuration';

// RFC 8414's document, which oidc-provider serves as well (same content).
export const OAUTH_METADATA_PATH = '/.well-known/oauth-authorization-server';

const byPath = new Map([
  ...Object.entries(ROUTES).map(([name, route]) => [route, name]),
  [DISCOVERY_PATH, 'discovery'],
  [OAUTH_METADATA_PATH, 'oauth_metadata'],
]);

// Names the fault switch accepts.
export const ENDPOINT_NAMES = [...byPath.values()];

// The endpoint name of a request path (without query), or undefined.
export function endpointOf(pathname) {
  return byPath.get(pathname);
}
