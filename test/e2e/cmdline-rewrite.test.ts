// A real process rewrites its command line at run time (as setproctitle does: new text over
// the argv area, comm unchanged) while it sends UDP on loopback; the live monitor's snapshot
// shows the new command line within a deadline, for the same process, with its bytes counted.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { createMonitor } from '../../src/index.js';
import type { Monitor, ProcessEntry } from '../../src/index.js';
import { needsRoot } from '../helpers/skip-reasons.js';

const TEST_TIMEOUT_MS = 60_000;
// A scan of a busy host can take a second and is spaced out to maxScanShare (10%): the new
// command line shows within a few scans.
const WAIT_LIMIT_MS = 30_000;
const NEW_TITLE = 'pidflow-test: rewritten worker';
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

// Sends 300-byte datagrams to PFC_PORT every 20 ms; on "rewrite" from stdin, writes NEW_TITLE
// over its own argv area through /proc/self/mem (arg_start/arg_end: proc(5) stat fields 48 and
// 49), NUL-padded, without prctl: comm stays as it was. Bounded by PFC_LIFE_S.
const CHILD_PY = `
import os, select, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', 0))
print('ready', flush=True)
end = time.time() + float(os.environ['PFC_LIFE_S'])
port = int(os.environ['PFC_PORT'])
while time.time() < end:
    s.sendto(b'c' * 300, ('127.0.0.1', port))
    if select.select([sys.stdin], [], [], 0.02)[0] and sys.stdin.readline().strip() == 'rewrite':
        stat = open('/proc/self/stat').read()
        fields = stat[stat.rindex(')') + 2:].split()
        start, stop = int(fields[48 - 3]), int(fields[49 - 3])
        title = os.environ['PFC_TITLE'].encode()
        with open('/proc/self/mem', 'r+b', buffering=0) as mem:
            mem.seek(start)
            mem.write(title + b'\\0' * (stop - start - len(title)))
        print('rewritten', flush=True)
`;

async function until<T>(what: string, get: () => T | undefined): Promise<T> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  for (;;) {
    const value = get();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${WAIT_LIMIT_MS} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function lineFrom(child: ChildProcess, word: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child never said ${word}`)), WAIT_LIMIT_MS);
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes(word)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

test(
  'a command line rewritten at run time (comm unchanged) shows in the live snapshot',
  { skip: needsRoot('capture on lo'), timeout: TEST_TIMEOUT_MS },
  async () => {
    let receiver: Socket | undefined;
    let child: ChildProcess | undefined;
    let monitor: Monitor | undefined;
    try {
      receiver = createSocket('udp4');
      await new Promise<void>((r) => receiver!.bind(0, '127.0.0.1', r));
      const port = receiver.address().port;
      monitor = await createMonitor({ devices: ['lo'], filter: `udp port ${port}` });
      monitor.start();
      child = spawn(PYTHON, ['-c', CHILD_PY], {
        stdio: ['pipe', 'pipe', 'inherit'],
        env: { ...process.env, PFC_PORT: String(port), PFC_LIFE_S: '40', PFC_TITLE: NEW_TITLE },
      });
      const ready = lineFrom(child, 'ready');
      await ready;
      const pid = child.pid!;
      const entry = (): ProcessEntry | undefined =>
        monitor!.snapshot().processes.find((p) => p.process.pid === pid && p.total.sentBytes > 0);
      const first = await until('the sender in the snapshot', entry);
      assert.equal(first.process.cmdline[0], PYTHON);
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      const rewritten = lineFrom(child, 'rewritten');
      child.stdin!.write('rewrite\n');
      await rewritten;
      // Independent truth: what the kernel shows now, and comm unchanged.
      const truth = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
      assert.ok(truth.startsWith(`${NEW_TITLE}\0`), JSON.stringify(truth.slice(0, 60)));
      assert.equal(readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), comm);

      const later = await until('the new command line in the snapshot', () => {
        const e = entry();
        return e?.process.cmdline[0] === NEW_TITLE ? e : undefined;
      });
      assert.equal(later.process.key, first.process.key, 'the same process');
      assert.equal(later.process.comm, comm);
      assert.ok(
        later.process.cmdline.slice(1).every((a) => a === ''),
        'the NUL padding',
      );
      assert.ok(later.total.sentBytes > first.total.sentBytes, 'still counted');
    } finally {
      if (child?.exitCode === null) child.kill('SIGKILL');
      await monitor?.stop();
      receiver?.close();
    }
  },
);
