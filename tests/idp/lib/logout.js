// RP-initiated logout without a confirmation page.
//
// oidc-provider answers GET /session/end with an HTML form that the user agent
// must POST back (a confirmation page, or an auto-submitting form that needs
// JavaScript). Scripted clients such as HTTPie can do neither, and Keycloak (the
// IdP of the user's scenario) logs out at once when given an id_token_hint. So
// once the library has validated the request (id_token_hint, client_id and
// post_logout_redirect_uri) and rendered its form, this middleware finishes the
// logout itself: it revokes the grants of the OP session, destroys the session,
// and answers a redirect to the post_logout_redirect_uri or a 200 page.
// With Back-Channel Logout enabled it first POSTs a logout_token to every
// client of the session that registered a backchannel_logout_uri, as the
// library's own confirmation step does.
import { ROUTES } from './endpoints.js';
import { escapeHtml, htmlPage } from './http-util.js';

export function loggedOutPage(clientId) {
  const from = clientId ? ` from ${escapeHtml(clientId)}` : '';
  return htmlPage('Logged out', `<h1>Logged out</h1>\n<p>You have been logged out${from}.</p>`);
}

// Back-Channel Logout 1.0: one logout_token per client of the OP session that
// registered a backchannel_logout_uri, awaited, so that the logout has reached
// the relying parties when the end-session answer arrives. Failures are
// emitted as the library does (backchannel.error) and do not stop the logout.
async function sendBackchannelLogouts(ctx, session) {
  const { provider } = ctx.oidc;
  const { accountId } = session;
  const sends = Object.keys(session.authorizations ?? {}).map(async (clientId) => {
    const client = await provider.Client.find(clientId);
    if (!client?.backchannelLogoutUri) return;
    const sid = session.sidFor(clientId);
    try {
      await client.backchannelLogout(accountId, sid);
      provider.emit('backchannel.success', ctx, client, accountId, sid);
    } catch (err) {
      provider.emit('backchannel.error', ctx, err, client, accountId, sid);
    }
  });
  await Promise.all(sends);
}

async function revokeSessionGrants(provider, session) {
  for (const { grantId, persistsLogout } of Object.values(session.authorizations ?? {})) {
    if (!grantId || persistsLogout) continue;
    await Promise.all(
      [provider.AccessToken, provider.RefreshToken, provider.AuthorizationCode]
        .map((model) => model.revokeByGrantId(grantId)),
    );
    const grant = await provider.Grant.find(grantId);
    if (grant) await grant.destroy();
  }
}

// The library saved the session (and set its cookies) while rendering the
// form; drop those Set-Cookie headers and expire the cookies instead.
function expireSessionCookies(ctx, cookieOptions) {
  const name = ctx.oidc.provider.cookieName('session');
  const names = [name, `${name}.sig`];
  const kept = [].concat(ctx.response.get('set-cookie') || [])
    .filter((cookie) => !names.some((n) => cookie.startsWith(`${n}=`)));
  if (kept.length) ctx.set('set-cookie', kept);
  else ctx.remove('set-cookie');
  for (const n of names) ctx.cookies.set(n, null, { ...cookieOptions, signed: false });
}

// Koa middleware for provider.use().
export function directLogoutMiddleware({ cookieOptions }) {
  return async function directLogout(ctx, next) {
    await next();
    if (ctx.method !== 'GET' || ctx.path !== ROUTES.end_session || ctx.status !== 200) return;

    const { provider, session } = ctx.oidc;
    const { clientId, postLogoutRedirectUri, state } = session.state ?? {};
    const opSession = Boolean(session.accountId);
    if (opSession) {
      await sendBackchannelLogouts(ctx, session);
      await revokeSessionGrants(provider, session);
    }
    await session.destroy();
    expireSessionCookies(ctx, cookieOptions);
    ctx.state.logout = { opSession };

    if (postLogoutRedirectUri) {
      const target = new URL(postLogoutRedirectUri);
      if (state != null) target.searchParams.set('state', state);
      ctx.redirect(target.href);
      ctx.status = 303;
    } else {
      ctx.status = 200;
      ctx.type = 'html';
      ctx.body = loggedOutPage(clientId);
    }
    provider.emit('end_session.success', ctx);
  };
}
