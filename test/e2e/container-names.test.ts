// Container names on the real system (root): child processes of ours, moved into cgroups of
// our own named like Docker's (`<test dir>/docker-<id>.scope`) and like kubelet's cgroupfs
// driver (`<test dir>/kubepods/besteffort/pod<uid>/<id>`), send known UDP bytes on lo, in the
// host's network namespace (as --network host and hostNetwork pods do); the real monitor reads
// their cgroups from /proc, names them from the recorded docker and containerd state trees
// (test/fixtures/containers/, given as hostFiles: no engine needed) and credits them the
// bytes. The cgroups are created under a name of our own and removed, also on failure.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createMonitor } from '../../src/index.js';
import type { Monitor } from '../../src/index.js';
import { unionHostFiles } from '../helpers/container-state.js';
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
  'processes in docker- and kubepods-named cgroups are named from the state files and get their bytes',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async () => {
    const ids = JSON.parse(readFileSync(containerFixture('ids.json'), 'utf8')) as Record<
      string,
      string
    >;
    const web = ids['dockerWeb']!;
    const proxy = ids['kubeProxy']!;
    const base = cgroupBase()!;
    const parent = join(base, `pidflow-test-cnames-${process.pid}`);
    const scopes = [
      join(parent, `docker-${web}.scope`),
      join(parent, 'kubepods/besteffort/pod81e09ae0-12ec-4ec5-94b8-51cda7906370', proxy),
    ];
    const receiver = dgram.createSocket('udp4');
    receiver.on('message', () => {});
    await new Promise<void>((resolve) => receiver.bind(0, '127.0.0.1', () => resolve()));
    const port = receiver.address().port;
    const children: ChildProcess[] = [];
    let monitor: Monitor | undefined;
    try {
      for (const scope of scopes) {
        mkdirSync(scope, { recursive: true });
        const child = spawn(process.execPath, ['-e', CHILD], {
          stdio: ['pipe', 'pipe', 'inherit'],
        });
        children.push(child);
        await waitForLine(child, 'ready');
        writeFileSync(join(scope, 'cgroup.procs'), String(child.pid));
      }
      monitor = await createMonitor(
        {
          devices: ['lo'],
          filter: `udp and dst port ${port}`,
          tickIntervalMs: 200,
          captureTimeoutMs: TEST_TIMEOUT_MS,
          socketEvents: false,
        },
        { hostFiles: unionHostFiles(['docker', 'containerd']) },
      );
      monitor.start();
      for (const child of children) {
        child.stdin!.write(`go ${port}\n`);
        await waitForLine(child, 'sent');
      }
      const expected = DATAGRAMS * (PAYLOAD_BYTES + UDP_IPV4_HEADER_BYTES);
      const entryOf = (pid: number | undefined) =>
        monitor!.snapshot().processes.find((p) => p.process.pid === pid);
      const deadline = Date.now() + WAIT_LIMIT_MS;
      while (
        children.some((c) => (entryOf(c.pid)?.total.sentBytes ?? 0) < expected) &&
        Date.now() < deadline
      ) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const docker = entryOf(children[0]!.pid);
      assert.ok(docker, 'the docker child is listed');
      assert.equal(docker.total.sentBytes, expected);
      assert.equal(docker.process.containerId, web);
      assert.equal(docker.process.containerRuntime, 'docker');
      assert.deepEqual(
        [
          docker.process.container?.name,
          docker.process.container?.image,
          docker.process.container?.composeService,
        ],
        ['shop-web-1', 'nginx:1.27', 'web'],
      );
      const pod = entryOf(children[1]!.pid);
      assert.ok(pod, 'the pod child is listed');
      assert.equal(pod.total.sentBytes, expected);
      assert.equal(pod.process.containerId, proxy);
      assert.equal(pod.process.containerRuntime, 'containerd', 'kubepods resolved to its runtime');
      assert.deepEqual(pod.process.container?.pod, {
        namespace: 'kube-system',
        name: 'kube-proxy-6xsx9',
        uid: '81e09ae0-12ec-4ec5-94b8-51cda7906370',
        container: 'kube-proxy',
      });
      const named = monitor
        .rank({ groupBy: 'container', windowSeconds: 0, limit: 5 })
        .filter((e) => e.kind === 'container' && e.containerId === web);
      assert.equal(named[0]?.kind === 'container' && named[0].container?.name, 'shop-web-1');
    } finally {
      await monitor?.stop();
      for (const child of children) {
        if (child.pid !== undefined && child.exitCode === null) {
          const exited = new Promise((r) => child.once('exit', r));
          process.kill(child.pid, 'SIGKILL');
          await exited;
        }
      }
      receiver.close();
      // Empty once our children are gone; only our own directories are removed, deepest first.
      const dirs = [
        ...scopes,
        join(parent, 'kubepods/besteffort/pod81e09ae0-12ec-4ec5-94b8-51cda7906370'),
        join(parent, 'kubepods/besteffort'),
        join(parent, 'kubepods'),
        parent,
      ];
      for (const dir of dirs) {
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
