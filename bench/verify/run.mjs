// Runs the wasm32-wasip1 build of verify-bench under V8 (Node.js's WASI), the engine Envoy runs
// filters in. Envoy's V8 compiles wasm with TurboFan only (proxy-wasm-cpp-host turns Liftoff
// off), so run this with `node --no-liftoff`; run.sh does.
//
// usage: node --no-liftoff run.mjs VERIFY_BENCH.wasm TOKENS.json [ITERATIONS]
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { WASI } from 'node:wasi';

const [wasmPath, tokensPath, iterations = '200'] = process.argv.slice(2);
if (!wasmPath || !tokensPath) {
  console.error('usage: node --no-liftoff run.mjs VERIFY_BENCH.wasm TOKENS.json [ITERATIONS]');
  process.exit(2);
}
const wasi = new WASI({
  version: 'preview1',
  args: ['verify-bench', 'run', `/fixtures/${basename(tokensPath)}`, iterations],
  env: {},
  preopens: { '/fixtures': dirname(resolve(tokensPath)) },
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(wasmPath));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
const code = wasi.start(instance);
process.exitCode = code;
