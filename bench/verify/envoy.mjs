// Runs probe.rs (the proxy-wasm build of the same measurements) inside Envoy, so the numbers
// come from Envoy's own V8, then prints the table it answers with.
//
// usage: node envoy.mjs ENVOY_BIN VERIFY_PROBE.wasm TOKENS.json [ITERATIONS]
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const [envoyBin, wasmPath, tokensPath, iterations = '100'] = process.argv.slice(2);
if (!envoyBin || !wasmPath || !tokensPath) {
  console.error('usage: node envoy.mjs ENVOY_BIN VERIFY_PROBE.wasm TOKENS.json [ITERATIONS]');
  process.exit(2);
}

const freePort = () =>
  new Promise((done, fail) => {
    const server = createServer().on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });

const port = await freePort();
const bootstrap = {
  static_resources: {
    listeners: [{
      name: 'probe',
      address: { socket_address: { address: '127.0.0.1', port_value: port } },
      filter_chains: [{
        filters: [{
          name: 'envoy.filters.network.http_connection_manager',
          typed_config: {
            '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
            stat_prefix: 'probe',
            // The probe blocks the worker for as long as the measurements take.
            stream_idle_timeout: '600s',
            request_timeout: '0s',
            route_config: {
              virtual_hosts: [{
                name: 'all', domains: ['*'],
                routes: [{ match: { prefix: '/' }, direct_response: { status: 404 } }],
              }],
            },
            http_filters: [
              {
                name: 'envoy.filters.http.wasm',
                typed_config: {
                  '@type': 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm',
                  config: {
                    name: 'verify_probe',
                    root_id: 'verify_probe',
                    configuration: {
                      '@type': 'type.googleapis.com/google.protobuf.StringValue',
                      value: await readFile(tokensPath, 'utf8'),
                    },
                    vm_config: {
                      runtime: 'envoy.wasm.runtime.v8',
                      code: { local: { filename: resolve(wasmPath) } },
                    },
                  },
                },
              },
              {
                name: 'envoy.filters.http.router',
                typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
              },
            ],
          },
        }],
      }],
    }],
  },
};

const dir = await mkdtemp(join(tmpdir(), 'verify-probe-'));
const config = join(dir, 'envoy.json');
await writeFile(config, JSON.stringify(bootstrap));
const envoy = spawn(envoyBin, ['-c', config, '--concurrency', '1', '--disable-hot-restart', '-l', 'warn'], {
  stdio: ['ignore', 'inherit', 'inherit'],
});
const exited = new Promise((done) => envoy.on('exit', done));
try {
  let answer;
  for (let attempt = 0; attempt < 100 && !answer; attempt++) {
    await new Promise((done) => setTimeout(done, 200));
    answer = await fetch(`http://127.0.0.1:${port}/`, { headers: { 'x-iterations': iterations } })
      .catch(() => undefined);
  }
  if (!answer) throw new Error('Envoy did not answer on its listener');
  process.stdout.write(await answer.text());
} finally {
  envoy.kill('SIGTERM');
  await exited;
  await rm(dir, { recursive: true, force: true });
}
