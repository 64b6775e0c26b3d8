import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { FakeMonitor } from '../../test/helpers/fake-monitor.js';
import { runServe, type ServeIo } from './run-serve.js';

function io(): ServeIo & { out: string[]; err: string[]; signals: EventEmitter } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: { write: (t: string) => out.push(t) },
    stderr: { write: (t: string) => err.push(t) },
    signals: new EventEmitter(),
  };
}

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), 'condition not reached within 2 s');
}

test('prints the URL, starts the monitor, and stops it with exit code 0 on SIGTERM', async () => {
  const monitor = new FakeMonitor();
  const s = io();
  const running = runServe(monitor, { host: '127.0.0.1', port: 0 }, s);
  await waitFor(() => s.out.length > 0);
  const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(s.out[0]!)?.[1];
  assert.ok(url, s.out[0]);
  assert.equal(monitor.startCalls, 1);
  assert.equal((await fetch(`${url}/healthz`)).status, 200);
  s.signals.emit('SIGTERM');
  assert.equal(await running, 0);
  assert.equal(monitor.stopCalls, 1);
  assert.equal(s.signals.listenerCount('SIGINT') + s.signals.listenerCount('SIGTERM'), 0);
  await assert.rejects(fetch(`${url}/healthz`));
});

test('returns 0 when the monitor ends by itself, 1 when it failed', async () => {
  for (const [reason, code] of [
    ['timeout', 0],
    ['end-of-file', 0],
    ['error', 1],
  ] as const) {
    const monitor = new FakeMonitor();
    const s = io();
    const running = runServe(monitor, { host: '127.0.0.1', port: 0 }, s);
    await waitFor(() => s.out.length > 0);
    monitor.end(
      reason,
      reason === 'error' ? new Error('capture on lo failed: device went away') : undefined,
    );
    assert.equal(await running, code, reason);
    if (reason === 'error')
      assert.match(s.err.join(''), /error: monitor failed: capture on lo failed: device went away/);
    else assert.match(s.err.join(''), new RegExp(`monitor ended \\(${reason}\\)`));
  }
});

test('a port in use prints an error, stops the monitor and returns 1; bad options return 2', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  try {
    const port = (blocker.address() as { port: number }).port;
    const monitor = new FakeMonitor();
    const s = io();
    assert.equal(await runServe(monitor, { host: '127.0.0.1', port }, s), 1);
    assert.match(
      s.err.join(''),
      /^error: cannot listen on 127\.0\.0\.1:\d+: the port is already in use/,
    );
    assert.equal(monitor.stopCalls, 1);
    assert.equal(monitor.startCalls, 0);
    const s2 = io();
    assert.equal(await runServe(new FakeMonitor(), { port: -1 }, s2), 2);
    assert.match(s2.err.join(''), /server option port must be an integer 0\.\.65535, got -1/);
  } finally {
    blocker.close();
  }
});

test('SIGHUP reloads the token; a failed reload keeps the old one and says so', async () => {
  const monitor = new FakeMonitor();
  const s = io();
  const tokens = ['first-token-0123456789', 'second-token-0123456789'];
  let reloads = 0;
  s.reload = () => {
    reloads++;
    if (reloads === 2) throw new Error('cannot read the token file /etc/pidflow/token: ENOENT');
    return { token: tokens[1], tls: undefined, warnings: [] };
  };
  const running = runServe(
    monitor,
    { host: '127.0.0.1', port: 0, token: tokens[0]!, history: false },
    s,
  );
  await waitFor(() => s.out.length > 0);
  const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(s.out[0]!)?.[1];
  const status = async (token: string): Promise<number> =>
    (await fetch(`${url}/api/v1/stats`, { headers: { authorization: `Bearer ${token}` } })).status;
  assert.equal(await status(tokens[0]!), 200);
  s.signals.emit('SIGHUP');
  assert.equal(await status(tokens[1]!), 200);
  assert.equal(await status(tokens[0]!), 401);
  assert.match(s.err.join(''), /pidflow serve: SIGHUP: reloaded the token\n/);
  s.signals.emit('SIGHUP');
  assert.match(s.err.join(''), /error: SIGHUP: reload failed, the previous token .* ENOENT/);
  assert.equal(await status(tokens[1]!), 200);
  s.signals.emit('SIGTERM');
  assert.equal(await running, 0);
  assert.equal(s.signals.listenerCount('SIGHUP'), 0);
});
