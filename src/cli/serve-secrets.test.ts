import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FakeClock } from '../clock.js';
import type { MonitorOptions } from '../monitor/types.js';
import { main, type CliDeps } from './main.js';
import { parseCliArgs } from './options.js';
import { loadServeSecrets } from './serve-secrets.js';

const TOKEN = 'dGhpcy1pcy1hLXRlc3QtdG9rZW4tMTIzNDU=';
const dir = mkdtempSync(join(tmpdir(), 'pidflow-secrets-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const none = {
  tokenFile: undefined,
  tlsCert: undefined,
  tlsKey: undefined,
  tlsClientCa: undefined,
};

test('the token comes from a file or PIDFLOW_TOKEN, never both, and a readable file is warned about', () => {
  const file = join(dir, 'token');
  writeFileSync(file, `${TOKEN}\n`);
  chmodSync(file, 0o600);
  assert.deepEqual(loadServeSecrets({ ...none, tokenFile: file }, {}), {
    token: TOKEN,
    tls: undefined,
    warnings: [],
  });
  assert.equal(loadServeSecrets(none, { PIDFLOW_TOKEN: TOKEN }).token, TOKEN);
  assert.equal(loadServeSecrets(none, {}).token, undefined);
  assert.throws(() => loadServeSecrets({ ...none, tokenFile: file }, { PIDFLOW_TOKEN: TOKEN }), {
    code: 'ERR_USAGE',
    message: /both --token-file and PIDFLOW_TOKEN/,
  });
  chmodSync(file, 0o644);
  assert.match(loadServeSecrets({ ...none, tokenFile: file }, {}).warnings[0]!, /chmod 600/);
  assert.throws(() => loadServeSecrets({ ...none, tokenFile: join(dir, 'nope') }, {}), {
    message: /cannot read the token file .*nope.*head -c 32 \/dev\/urandom/,
  });
  writeFileSync(file, 'short');
  assert.throws(() => loadServeSecrets({ ...none, tokenFile: file }, {}), /at least 16/);
});

test('a token on the command line is refused with what to do instead', () => {
  for (const argv of [
    ['serve', '--token', TOKEN],
    ['serve', `--token=${TOKEN}`],
  ]) {
    const r = parseCliArgs(argv, '0');
    assert.ok(r.kind === 'exit' && r.code === 2);
    assert.match(r.stderr, /--token-file FILE, or set PIDFLOW_TOKEN/);
    assert.ok(!r.stderr.includes(TOKEN), 'the token is not echoed');
  }
  const tls = parseCliArgs(['serve', '--tls-cert', 'a.pem'], '0');
  assert.ok(tls.kind === 'exit' && /--tls-cert and --tls-key go together/.test(tls.stderr));
});

test('serve on a non-loopback address without a token exits 2 before any capture starts', async () => {
  let created = 0;
  let err = '';
  const deps: Partial<CliDeps> = {
    stdout: { write: () => true, on: () => undefined, off: () => undefined },
    stderr: { write: (s: string) => (err += s) },
    stdin: undefined,
    env: {},
    clock: new FakeClock(0),
    hooks: new EventEmitter() as unknown as CliDeps['hooks'],
    version: '0',
    createMonitor: (o: MonitorOptions) => {
      created++;
      throw new Error(`not expected ${JSON.stringify(o)}`);
    },
  };
  const code = await main(['serve', '--listen', '0.0.0.0:9465'], deps);
  assert.equal(code, 2);
  assert.equal(created, 0);
  assert.match(
    err,
    /^error: --listen 0\.0\.0\.0 is not a loopback address: .*--token-file \/etc\/pidflow\/token, or set PIDFLOW_TOKEN/,
  );
});
