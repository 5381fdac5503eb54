// Runs a wasm32-wasip1 command module under Node's WASI: node run-wasi.mjs MODULE [ARGS...]
// The file system is visible from `/`: give paths as absolute paths.
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import process from 'node:process';

const [modulePath, ...args] = process.argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: [modulePath, ...args], env: {}, preopens: { '/': '/' }, returnOnExit: true });
const module = await WebAssembly.compile(await readFile(modulePath));
// The filter's crate links its proxy-wasm host imports in too; the timed code never calls them.
const env = {};
for (const { module: from, name } of WebAssembly.Module.imports(module)) {
  if (from === 'env') env[name] = () => { throw new Error(`host function ${name} called`); };
}
const instance = await WebAssembly.instantiate(module, { ...wasi.getImportObject(), env });
// It also exports the filter's `_initialize`, which would make Node take it for a reactor.
const { _start, memory } = instance.exports;
process.exitCode = wasi.start({ exports: { _start, memory } });
