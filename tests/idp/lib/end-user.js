// POST /__test/end-user {"sub": ...}: what an administrator's "log this user out
// everywhere" does at a real provider. Every grant of the account is revoked with
// its access tokens, refresh tokens and codes (so introspection answers
// `active: false` and a refresh `invalid_grant`), and its OP sessions are
// destroyed (no SSO back in). No back-channel logout is sent: relying parties
// must find out by asking (the gateway's session checks).
//
// The memory adapter cannot be searched by account, so the grants and sessions
// of each account are remembered as the provider saves them.

export class AccountIndex {
  #grants = new Map();

  #sessions = new Map();

  constructor(provider) {
    provider.on('grant.saved', (grant) => this.#add(this.#grants, grant.accountId, grant.jti));
    provider.on('session.saved', (session) => this.#add(this.#sessions, session.accountId, session.jti));
  }

  #add(index, accountId, id) {
    if (!accountId || !id) return;
    if (!index.has(accountId)) index.set(accountId, new Set());
    index.get(accountId).add(id);
  }

  // Ends everything of `sub` at the provider; resolves with what was found.
  async end(provider, sub) {
    const grantIds = [...(this.#grants.get(sub) ?? [])];
    const sessionIds = [...(this.#sessions.get(sub) ?? [])];
    this.#grants.delete(sub);
    this.#sessions.delete(sub);
    let grants = 0;
    for (const grantId of grantIds) {
      await Promise.all(
        [provider.AccessToken, provider.RefreshToken, provider.AuthorizationCode]
          .map((model) => model.revokeByGrantId(grantId)),
      );
      const grant = await provider.Grant.find(grantId);
      if (grant) {
        await grant.destroy();
        grants += 1;
      }
    }
    let sessions = 0;
    for (const id of sessionIds) {
      const session = await provider.Session.find(id);
      if (session && session.accountId === sub) {
        await session.destroy();
        sessions += 1;
      }
    }
    return { sub, grants, sessions };
  }
}
