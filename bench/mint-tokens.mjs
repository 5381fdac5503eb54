// Signing keys and bearer JWTs for bench/run.sh's bearer scenarios.
//
//   node bench/mint-tokens.mjs JWKS_FILE ISSUER AUDIENCE COUNT OUT_PREFIX
//
// Writes JWKS_FILE, the private JWK Set the test IdP is started with (--jwks-file): its usual
// RSA key (RS256, first, as the IdP signs with it) and a P-256 key (ES256). The IdP publishes
// both at its jwks_uri, which is where the filter finds them (discovery, then the JWKS).
// OUT_PREFIX-jwks.json is its public half. Then writes OUT_PREFIX-RS256.txt and OUT_PREFIX-ES256.txt: COUNT distinct access tokens each
// (`Authorization: Bearer <jwt>` lines, for bench/pick-header.lua), shaped like the IdP's own
// JWT access tokens (typ at+jwt; iss, sub, aud, client_id, scope, iat, exp in an hour, jti).
// The IdP signs only RS256 itself, so the tokens are signed here with the same keys.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import fs from 'node:fs';

const [jwksFile, issuer, audience, countText, outPrefix] = process.argv.slice(2);
const count = Number(countText);
if (!outPrefix || !Number.isInteger(count) || count < 1) {
  console.error('usage: node bench/mint-tokens.mjs JWKS_FILE ISSUER AUDIENCE COUNT OUT_PREFIX');
  process.exit(2);
}

function jwkOf(privateKey, alg) {
  const jwk = privateKey.export({ format: 'jwk' });
  const pub = createPublicKey(privateKey).export({ format: 'jwk' });
  return { ...jwk, kid: `bench-${alg}-${(pub.n ?? pub.x).slice(0, 12)}`, alg, use: 'sig' };
}

const rsa = jwkOf(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, 'RS256');
const ec = jwkOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, 'ES256');
fs.writeFileSync(jwksFile, `${JSON.stringify({ keys: [rsa, ec] }, null, 2)}\n`, { mode: 0o600 });
// The public half too, as the IdP publishes it (bench/session-timing verifies against it).
const publicOf = ({ d, p, q, dp, dq, qi, ...pub }) => pub;
fs.writeFileSync(`${outPrefix}-jwks.json`, `${JSON.stringify({ keys: [publicOf(rsa), publicOf(ec)] })}\n`);

const b64 = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const now = Math.floor(Date.now() / 1000);

for (const [alg, jwk, options] of [
  ['RS256', rsa, {}],
  ['ES256', ec, { dsaEncoding: 'ieee-p1363' }],
]) {
  const key = createPrivateKey({ key: jwk, format: 'jwk' });
  const lines = [];
  for (let i = 0; i < count; i += 1) {
    const header = { alg, typ: 'at+jwt', kid: jwk.kid };
    const claims = {
      iss: issuer,
      sub: `bench-user-${i}`,
      aud: audience,
      client_id: audience,
      scope: 'openid profile',
      iat: now,
      exp: now + 3600,
      jti: `bench-${alg}-${i}`,
    };
    const input = `${b64(header)}.${b64(claims)}`;
    const signature = sign('sha256', Buffer.from(input), { key, ...options }).toString('base64url');
    lines.push(`Authorization: Bearer ${input}.${signature}\n`);
  }
  fs.writeFileSync(`${outPrefix}-${alg}.txt`, lines.join(''));
}
