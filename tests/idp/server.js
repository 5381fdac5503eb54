#!/usr/bin/env node
// The test OpenID provider. See README.md beside this file.
import { parseOptions, USAGE } from './lib/options.js';
import { startIdp } from './lib/app.js';

let options;
try {
  options = parseOptions();
} catch (err) {
  process.stderr.write(`test-idp: ${err.message}\n${USAGE}`);
  process.exit(2);
}
if (options.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

try {
  const idp = await startIdp(options);
  const mode = options.jwtAccessTokens ? 'jwt' : 'opaque';
  process.stdout.write(`test-idp listening on ${idp.url} issuer=${idp.issuer} access_tokens=${mode}\n`);
  const stop = () => idp.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} catch (err) {
  process.stderr.write(`test-idp: cannot start: ${err.message}\n`);
  process.exit(1);
}
