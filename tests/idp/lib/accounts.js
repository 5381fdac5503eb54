// The IdP's users. The subject differs from the username on purpose, so a
// relying party that confuses `sub` with `preferred_username` shows up in tests.

const USERS = [
  { username: 'john', password: 'doe', sub: 'user-john', name: 'John Doe', groups: ['users'], roles: ['viewer'] },
  { username: 'jane', password: 'doe', sub: 'user-jane', name: 'Jane Doe', groups: ['users', 'admins'], roles: ['viewer', 'admin'] },
  { username: 'alice', password: 'wonderland', sub: 'user-alice', name: 'Alice Liddell', groups: ['users'], roles: ['editor'] },
  { username: 'bob', password: 'builder', sub: 'user-bob', name: 'Bob Builder', groups: [], roles: [] },
  { username: 'admin', password: 'admin', sub: 'user-admin', name: 'Admin Istrator', groups: ['admins'], roles: ['admin'] },
];

const bySub = new Map(USERS.map((user) => [user.sub, user]));
const byUsername = new Map(USERS.map((user) => [user.username, user]));

// All claims of a user; oidc-provider filters them by scope (see CLAIMS).
function claimsOf(user) {
  return {
    sub: user.sub,
    name: user.name,
    preferred_username: user.username,
    email: `${user.username}@example.com`,
    email_verified: true,
    groups: user.groups,
    roles: user.roles,
  };
}

function toAccount(user) {
  return {
    accountId: user.sub,
    async claims() {
      return claimsOf(user);
    },
  };
}

// Which claims each scope releases (oidc-provider's `claims` configuration).
export const CLAIMS = {
  openid: ['sub'],
  profile: ['name', 'preferred_username', 'groups', 'roles'],
  email: ['email', 'email_verified'],
};

export const SCOPES = ['openid', 'profile', 'email', 'offline_access'];

// oidc-provider's findAccount: sub -> account, or undefined.
export async function findAccount(_ctx, sub) {
  const user = bySub.get(sub);
  return user ? toAccount(user) : undefined;
}

// Checks a username and password; returns the account or undefined.
export function authenticate(username, password) {
  const user = byUsername.get(username);
  if (!user || typeof password !== 'string' || user.password !== password) return undefined;
  return toAccount(user);
}

export function listUsers() {
  return USERS.map(({ username, password, sub }) => ({ username, password, sub }));
}
