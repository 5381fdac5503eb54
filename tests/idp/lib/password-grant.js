// The resource owner password credentials grant (RFC 6749 section 4.3), which
// oidc-provider does not ship: Kong's `password` auth method needs it. Tokens
// are made through the provider's own models, so refresh, revocation and
// introspection treat them like any other.
import { errors } from 'oidc-provider';
import { authenticate, SCOPES } from './accounts.js';

export const PASSWORD_GRANT_PARAMS = ['username', 'password', 'scope'];

function requestedScopes(ctx) {
  const requested = [...ctx.oidc.requestParamScopes];
  if (requested.length === 0) return ['openid'];
  const unknown = requested.filter((scope) => !SCOPES.includes(scope));
  if (unknown.length) throw new errors.InvalidScope('requested scope is not supported', unknown.join(' '));
  return requested;
}

// jwtResource: undefined for opaque access tokens, else { identifier, info }
// as the resource indicator configuration resolves it.
export function passwordGrantHandler({ jwtResource }) {
  return async function passwordGrant(ctx) {
    const { client, params, provider } = ctx.oidc;
    if (!params.username) throw new errors.InvalidRequest('username is required');
    // An empty password arrives as undefined; like Keycloak, answer it as
    // wrong credentials rather than as a malformed request.
    const account = authenticate(params.username, params.password ?? '');
    if (!account) throw new errors.InvalidGrant('invalid username or password');

    const scope = requestedScopes(ctx).join(' ');
    const resource = jwtResource ? await jwtResource(ctx, client) : undefined;

    const grant = new provider.Grant({ accountId: account.accountId, clientId: client.clientId });
    grant.addOIDCScope(scope);
    if (resource) grant.addResourceScope(resource.identifier, scope);
    const grantId = await grant.save();
    ctx.oidc.entity('Account', account);
    ctx.oidc.entity('Grant', grant);

    const authTime = Math.floor(Date.now() / 1000);
    const accessToken = new provider.AccessToken({
      accountId: account.accountId,
      client,
      grantId,
      gty: 'password',
      scope,
    });
    if (resource) {
      accessToken.resourceServer = new provider.ResourceServer(resource.identifier, resource.info);
    }
    ctx.oidc.entity('AccessToken', accessToken);
    const accessTokenValue = await accessToken.save();

    let refreshTokenValue;
    if (client.grantTypeAllowed('refresh_token')) {
      const refreshToken = new provider.RefreshToken({
        accountId: account.accountId,
        authTime,
        client,
        grantId,
        gty: 'password',
        resource: resource?.identifier,
        rotations: 0,
        scope,
      });
      ctx.oidc.entity('RefreshToken', refreshToken);
      refreshTokenValue = await refreshToken.save();
    }

    let idTokenValue;
    if (scope.split(' ').includes('openid')) {
      const idToken = new provider.IdToken({ ...(await account.claims()), auth_time: authTime }, { ctx });
      idToken.scope = scope;
      idTokenValue = await idToken.issue({ use: 'idtoken' });
    }

    ctx.body = {
      access_token: accessTokenValue,
      expires_in: accessToken.expiration,
      token_type: accessToken.tokenType,
      refresh_token: refreshTokenValue,
      id_token: idTokenValue,
      scope,
    };
  };
}
