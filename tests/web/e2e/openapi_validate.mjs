// Validates the OpenAPI document a real server serves. Starts `sluice
// standalone` on a free port of 127.0.0.1 over a scratch database, fetches
// /api/v1/openapi.json and checks it with @readme/openapi-parser (the
// OpenAPI 3.1 schema plus the rules the schema cannot state: unique
// operationIds, path parameters that match the path, resolvable $refs).
// Exits 1 with the validator's errors, or when anything else goes wrong.
//
// Usage: node openapi_validate.mjs SLUICE_BINARY

import {spawn} from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {compileErrors, validate} from '@readme/openapi-parser';

const binary = process.argv[2];
const TIMEOUT_MS = 30000;

const DAG = `dag: openapi_demo
schedule: null
start_date: 2026-01-01
tasks:
  - {id: only, type: shell, command: "true"}
`;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function main() {
  if (!binary) throw new Error('usage: node openapi_validate.mjs SLUICE_BINARY');
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-openapi-'));
  fs.mkdirSync(path.join(scratch, 'dags'));
  fs.writeFileSync(path.join(scratch, 'dags/openapi_demo.yaml'), DAG);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const logPath = path.join(scratch, 'standalone.log');
  const logFd = fs.openSync(logPath, 'w');
  const server = spawn(binary, ['standalone', '--bind', '127.0.0.1', '--port', String(port),
                                '--slots', '1'], {
    cwd: scratch,
    env: Object.assign({}, process.env, {
      SLUICE_DB: 'sqlite://' + path.join(scratch, 'sluice.db'),
      SLUICE_DAGS: path.join(scratch, 'dags'),
      SLUICE_API_TOKEN: '',
    }),
    stdio: ['ignore', logFd, logFd],
  });
  let exited = null;
  server.on('exit', (code, signal) => { exited = {code, signal}; });
  try {
    let document = null;
    const deadline = Date.now() + TIMEOUT_MS;
    while (!document) {
      if (exited) throw new Error(`sluice exited early: ${JSON.stringify(exited)}`);
      if (Date.now() > deadline) throw new Error('the server did not answer within 30 s');
      try {
        const res = await fetch(base + '/api/v1/openapi.json');
        if (res.status !== 200) throw new Error(`GET /api/v1/openapi.json: ${res.status}`);
        const type = res.headers.get('content-type') || '';
        if (!type.startsWith('application/json')) throw new Error(`content type ${type}`);
        document = await res.json();
      } catch (e) {
        if (e.cause && e.cause.code === 'ECONNREFUSED') {
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        throw e;
      }
    }
    if (document.openapi !== '3.1.0') throw new Error(`openapi is ${document.openapi}, not 3.1.0`);
    const result = await validate(document);
    if (!result.valid) {
      console.error(compileErrors(result));
      return 1;
    }
    if (result.warnings.length) console.log(compileErrors(result));
    const operations = Object.values(document.paths)
        .reduce((n, item) => n + Object.keys(item).length, 0);
    console.log(`valid OpenAPI ${document.openapi}: ${Object.keys(document.paths).length} ` +
                `paths, ${operations} operations`);
    return 0;
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => (exited ? r() : server.once('exit', r)));
    fs.closeSync(logFd);
    fs.rmSync(scratch, {recursive: true, force: true});
  }
}

main().then((code) => process.exit(code), (e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
