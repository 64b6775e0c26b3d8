// Container names on the real system (root): a child process of ours, moved into a cgroup of
// our own named like Docker's (`<test dir>/docker-<id>.scope`), sends known UDP bytes on lo;
// the real monitor reads its cgroup from /proc, names it from the recorded docker state tree
// (test/fixtures/containers/docker, given as hostFiles: no engine needed) and credits it the
// bytes. The cgroup is created under a name of our own and removed, also on failure.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { NodeHostFiles } from '../../src/attribute/host-files.js';
import { createMonitor } from '../../src/index.js';
import type { Monitor } from '../../src/index.js';
import { containerFixture } from '../helpers/fake-procfs.js';
import { needsRoot, skipReason } from '../helpers/skip-reasons.js';

const TEST_TIMEOUT_MS = 60_000;
const WAIT_LIMIT_MS = 15_000;
const DATAGRAMS = 200;
const PAYLOAD_BYTES = 500;
const UDP_IPV4_HEADER_BYTES = 28;

/** A cgroup hierarchy we may create a directory in: cgroup2 at /sys/fs/cgroup, else v1 pids. */
function cgroupBase(): string | undefined {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return '/sys/fs/cgroup';
  if (existsSync('/sys/fs/cgroup/pids/cgroup.procs')) return '/sys/fs/cgroup/pids';
  return undefined;
}

const SKIP =
  needsRoot('cgroups, raw capture on lo') ||
  (cgroupBase() === undefined
    ? skipReason('no-cgroupfs', 'no writable cgroup hierarchy at /sys/fs/cgroup')
    : false);

// Waits for "go <port>" on stdin, sends DATAGRAMS datagrams to 127.0.0.1:<port>, says "sent".
const CHILD = `
const dgram = require('node:dgram');
const s = dgram.createSocket('udp4');
s.bind(0, '127.0.0.1', () => console.log('ready ' + s.address().port));
process.stdin.on('data', async (d) => {
  const port = Number(String(d).trim().split(' ')[1]);
  const payload = Buffer.alloc(${PAYLOAD_BYTES}, 0x61);
  for (let i = 0; i < ${DATAGRAMS}; i++) {
    await new Promise((r, j) => s.send(payload, port, '127.0.0.1', (e) => (e ? j(e) : r())));
  }
  console.log('sent');
});
setTimeout(() => process.exit(0), ${TEST_TIMEOUT_MS});
`;

function waitForLine(child: ChildProcess, prefix: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(
      () => reject(new Error(`child did not print "${prefix}"`)),
      WAIT_LIMIT_MS,
    );
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString();
      const line = buffer.split('\n').find((l) => l.startsWith(prefix));
      if (line === undefined) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      resolve(line);
    };
    child.stdout!.on('data', onData);
  });
}

test(
  'a process in a docker-named cgroup is named from the state files and gets its bytes',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async () => {
    const ids = JSON.parse(readFileSync(containerFixture('ids.json'), 'utf8')) as Record<
      string,
      string
    >;
    const id = ids['dockerWeb']!;
    const base = cgroupBase()!;
    const parent = join(base, `pidflow-test-cnames-${process.pid}`);
    const scope = join(parent, `docker-${id}.scope`);
    const receiver = dgram.createSocket('udp4');
    receiver.on('message', () => {});
    await new Promise<void>((resolve) => receiver.bind(0, '127.0.0.1', () => resolve()));
    const port = receiver.address().port;
    let child: ChildProcess | undefined;
    let monitor: Monitor | undefined;
    try {
      mkdirSync(scope, { recursive: true });
      child = spawn(process.execPath, ['-e', CHILD], { stdio: ['pipe', 'pipe', 'inherit'] });
      await waitForLine(child, 'ready');
      writeFileSync(join(scope, 'cgroup.procs'), String(child.pid));
      assert.match(
        readFileSync(`/proc/${child.pid}/cgroup`, 'utf8'),
        new RegExp(`docker-${id}\\.scope`),
      );

      monitor = await createMonitor(
        {
          devices: ['lo'],
          filter: `udp and dst port ${port}`,
          tickIntervalMs: 200,
          captureTimeoutMs: TEST_TIMEOUT_MS,
          socketEvents: false,
        },
        { hostFiles: new NodeHostFiles(containerFixture('docker')) },
      );
      monitor.start();
      child.stdin!.write(`go ${port}\n`);
      await waitForLine(child, 'sent');
      const expected = DATAGRAMS * (PAYLOAD_BYTES + UDP_IPV4_HEADER_BYTES);
      const deadline = Date.now() + WAIT_LIMIT_MS;
      let entry = monitor.snapshot().processes.find((p) => p.process.pid === child!.pid);
      while ((entry?.total.sentBytes ?? 0) < expected && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        entry = monitor.snapshot().processes.find((p) => p.process.pid === child!.pid);
      }
      assert.ok(entry, 'the child is listed');
      assert.equal(entry.total.sentBytes, expected);
      assert.equal(entry.process.containerId, id);
      assert.equal(entry.process.containerRuntime, 'docker');
      assert.deepEqual(
        [
          entry.process.container?.name,
          entry.process.container?.image,
          entry.process.container?.composeService,
        ],
        ['shop-web-1', 'nginx:1.27', 'web'],
      );
      const [container] = monitor
        .rank({ groupBy: 'container', windowSeconds: 0, limit: 5 })
        .filter((e) => e.kind === 'container' && e.containerId === id);
      assert.equal(container?.kind === 'container' && container.container?.name, 'shop-web-1');
    } finally {
      await monitor?.stop();
      if (child?.pid !== undefined && child.exitCode === null) {
        const exited = new Promise((r) => child!.once('exit', r));
        process.kill(child.pid, 'SIGKILL');
        await exited;
      }
      receiver.close();
      // Empty once our child is gone; only our own directories are removed.
      for (const dir of [scope, parent]) {
        for (let i = 0; i < 50 && existsSync(dir); i++) {
          try {
            rmdirSync(dir);
          } catch {
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      }
      assert.equal(existsSync(parent), false, `test cgroup ${parent} removed`);
    }
  },
);
