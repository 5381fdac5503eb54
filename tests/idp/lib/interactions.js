// The IdP's own login page for the authorization code flow:
//   GET  /interaction/<uid>        the login form (or, when only consent is
//                                  missing, grants it and continues)
//   POST /interaction/<uid>/login  checks username/password, then finishes the
//                                  interaction with login and consent at once
// Consent is granted automatically: every client here belongs to the tests.
import { authenticate } from './accounts.js';
import {
  escapeHtml, htmlPage, parseForm, readBody, sendHtml,
} from './http-util.js';

const INTERACTION_PATH = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/;

function loginPage(uid, clientId, error) {
  const message = error ? `<p role="alert">${escapeHtml(error)}</p>\n` : '';
  return htmlPage('Sign in', `<h1>Sign in</h1>
<p>to continue to ${escapeHtml(clientId)}</p>
${message}<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<p><label>Username <input name="username" autocomplete="username" autofocus required></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit">Sign in</button></p>
</form>`);
}

// A grant holding what the authorization request asked for (and, for JWT
// access tokens, the same scopes on the resource server).
async function grantFor(provider, details, accountId, resourceIdentifier) {
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: details.params.client_id });
  const missing = details.prompt.details ?? {};
  const scope = missing.missingOIDCScope?.join(' ') ?? details.params.scope;
  if (scope) grant.addOIDCScope(scope);
  if (missing.missingOIDCClaims?.length) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  if (resourceIdentifier && details.params.scope) {
    grant.addResourceScope(resourceIdentifier, details.params.scope);
  }
  return grant.save();
}

async function showInteraction(req, res, { provider, resourceIdentifier }) {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'login') {
    sendHtml(res, 200, loginPage(details.uid, details.params.client_id));
    return;
  }
  const accountId = details.session?.accountId;
  const grantId = await grantFor(provider, details, accountId, resourceIdentifier);
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}

async function submitLogin(req, res, { provider, resourceIdentifier }) {
  const details = await provider.interactionDetails(req, res);
  const form = parseForm(await readBody(req));
  const account = authenticate(form.username, form.password);
  if (!account) {
    sendHtml(res, 200, loginPage(details.uid, details.params.client_id, 'Invalid username or password.'));
    return;
  }
  const grantId = await grantFor(provider, details, account.accountId, resourceIdentifier);
  await provider.interactionFinished(req, res, {
    login: { accountId: account.accountId },
    consent: { grantId },
  }, { mergeWithLastSubmission: false });
}

// Handles /interaction/... requests; returns false for other paths.
export async function handleInteraction(req, res, url, context) {
  const match = INTERACTION_PATH.exec(url.pathname);
  if (!match) return false;
  const isLogin = Boolean(match[2]);
  try {
    if (req.method === 'GET' && !isLogin) await showInteraction(req, res, context);
    else if (req.method === 'POST' && isLogin) await submitLogin(req, res, context);
    else sendHtml(res, 405, htmlPage('Method not allowed', '<h1>Method not allowed</h1>'));
  } catch (err) {
    // Typically an expired or unknown interaction (SessionNotFound).
    const status = err.statusCode ?? 500;
    const description = err.error_description ?? err.message;
    sendHtml(res, status, htmlPage('Sign-in error', `<h1>Sign-in error</h1>\n<p>${escapeHtml(description)}</p>`));
  }
  return true;
}
