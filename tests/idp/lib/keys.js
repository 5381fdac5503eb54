// Signing keys kept in a file, so a restarted IdP signs with the same key and
// relying parties that cached the JWKS keep working.
import { generateKeyPairSync, createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

function generateJwks() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  const kid = createPublicKey(privateKey).export({ format: 'jwk' }).n.slice(0, 16);
  return { keys: [{ ...jwk, kid, alg: 'RS256', use: 'sig' }] };
}

function isUsable(jwks) {
  return Array.isArray(jwks?.keys) && jwks.keys.some((key) => key.kty === 'RSA' && key.d);
}

// Reads the JWKS (private keys) from `file`, creating it on first use.
export function loadOrCreateJwks(file) {
  if (fs.existsSync(file)) {
    let parsed;
    try {
      parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (cause) {
      throw new Error(`cannot read the signing keys in ${file} (${cause.message}); delete the file to make new ones`);
    }
    if (!isUsable(parsed)) {
      throw new Error(`${file} holds no RSA private key; delete the file to make new ones`);
    }
    return parsed;
  }
  const jwks = generateJwks();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // Write aside then link into place: link fails if another IdP starting at
  // the same time got there first, and then both use that one's keys.
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, `${JSON.stringify(jwks, null, 2)}\n`, { mode: 0o600 });
  try {
    fs.linkSync(temp, file);
  } catch (err) {
    if (err.code !== 'EEXIST') throw err;
    return loadOrCreateJwks(file);
  } finally {
    fs.rmSync(temp, { force: true });
  }
  return jwks;
}
