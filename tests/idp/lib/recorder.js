// Turns requests to the provider's endpoints into entries of the event log, so
// tests can check what a relying party sent (grant, client authentication,
// which token it revoked, the end-session arguments) and what it got back.
import { endpointOf } from './endpoints.js';

const TOKEN_KINDS = ['RefreshToken', 'AccessToken', 'ClientCredentials'];

function basicClientId(header) {
  try {
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return decodeURIComponent((colon === -1 ? decoded : decoded.slice(0, colon)).replace(/\+/g, '%20'));
  } catch {
    return undefined;
  }
}

// How the client authenticated, judged from what it sent.
export function clientAuthOf(headers, params) {
  const auth = headers.authorization;
  if (typeof auth === 'string' && /^basic /i.test(auth)) {
    return { client_auth_method: 'client_secret_basic', client_id: basicClientId(auth) };
  }
  let method = 'none';
  if (params.client_secret !== undefined) method = 'client_secret_post';
  else if (params.client_assertion !== undefined) method = 'client_assertion';
  return { client_auth_method: method, client_id: params.client_id };
}

// The request side of an event. `query` and `form` are plain objects.
export function describeRequest(endpoint, { query, form, headers }) {
  const params = { ...query, ...form };
  switch (endpoint) {
    case 'token':
      return {
        grant_type: params.grant_type,
        ...clientAuthOf(headers, params),
        scope: params.scope,
        username: params.grant_type === 'password' ? params.username : undefined,
        refresh_token: params.refresh_token,
        redirect_uri: params.redirect_uri,
        code_verifier: params.code_verifier === undefined ? undefined : true,
      };
    case 'revocation':
    case 'introspection':
      return {
        token_type_hint: params.token_type_hint,
        token: params.token,
        ...clientAuthOf(headers, params),
      };
    case 'end_session':
      return {
        query: { ...query },
        id_token_hint: query.id_token_hint,
        post_logout_redirect_uri: query.post_logout_redirect_uri,
        client_id: query.client_id,
        state: query.state,
      };
    case 'authorization':
      return { query: { ...query } };
    case 'userinfo':
      return { authorization: typeof headers.authorization === 'string' ? headers.authorization.split(' ')[0] : undefined };
    default:
      return {};
  }
}

function pick(object, names) {
  return Object.fromEntries(names.filter((name) => object[name] !== undefined).map((name) => [name, object[name]]));
}

// The response side of an event, read from the finished Koa context.
function describeOutcome(endpoint, ctx) {
  const outcome = {};
  const body = ctx.body && typeof ctx.body === 'object' && !Buffer.isBuffer(ctx.body) ? ctx.body : undefined;
  const error = ctx.state.idpError ?? (typeof body?.error === 'string' ? body : undefined);
  if (error) {
    outcome.error = error.error;
    outcome.error_description = error.error_description;
  }
  const entities = ctx.oidc?.entities ?? {};
  const tokenKind = TOKEN_KINDS.find((kind) => entities[kind]);
  switch (endpoint) {
    case 'token':
      if (ctx.status === 200 && body) {
        outcome.issued = pick(body, ['access_token', 'refresh_token', 'id_token', 'token_type', 'expires_in', 'scope']);
      }
      break;
    case 'revocation':
      if (!error) {
        outcome.found = Boolean(tokenKind);
        outcome.token_kind = tokenKind;
      }
      break;
    case 'introspection':
      outcome.active = body?.active;
      outcome.token_kind = tokenKind;
      break;
    case 'end_session':
      outcome.op_session = ctx.state.logout?.opSession;
      outcome.location = ctx.response.get('location') || undefined;
      break;
    default:
  }
  return outcome;
}

// Koa middleware for provider.use(): records every request to a known endpoint.
export function recorderMiddleware(events) {
  return async function recordEvent(ctx, next) {
    const endpoint = endpointOf(ctx.path);
    if (!endpoint) {
      await next();
      return;
    }
    try {
      await next();
    } finally {
      events.record({
        type: endpoint,
        method: ctx.method,
        status: ctx.status,
        injected: ctx.req.injectedFault,
        ...describeRequest(endpoint, { query: ctx.query, form: ctx.oidc?.body ?? {}, headers: ctx.headers }),
        ...describeOutcome(endpoint, ctx),
      });
    }
  };
}
