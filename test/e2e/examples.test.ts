// The examples use only the public API: each one runs here as a user would run it, on a veth
// of a test net that only a known sender uses, and must print that sender's bytes exactly.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { createTestNet } from '../helpers/netns.js';
import { needsRoot } from '../helpers/skip-reasons.js';

const run = promisify(execFile);
const DATAGRAMS = 40;
const PAYLOAD_BYTES = 1000;
const UDP_IPV4_HEADER_BYTES = 28;

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

/** Renames itself, waits for a line on stdin, sends the datagrams at once, stays (bounded). */
const SENDER = `
process.title = process.argv[1];
process.stdin.once('data', () => {
  const s = require('node:dgram').createSocket('udp4');
  s.bind(0, () => {
    let n = 0;
    const next = () => { if (n++ < ${DATAGRAMS}) s.send(Buffer.alloc(${PAYLOAD_BYTES}, 0x65), 9, process.argv[2], next); else process.stdout.write('sent\\n'); };
    next();
  });
});
setTimeout(() => process.exit(0), 30000);
`;

test(
  "examples/top-processes.mjs shows a known sender's bytes on its pid and ends by its capture timeout",
  { skip: needsRoot('capture, namespaces'), timeout: 30_000 },
  async () => {
    const root = packageRoot();
    const net = await createTestNet({ prefix: 'pfx' });
    const comm = `pfex${process.pid % 100000}`;
    try {
      // Started, and renamed, before the example's monitor can see it.
      const sender = net.spawnIn(undefined, process.execPath, ['-e', SENDER, comm, net.b.ipv4], {
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      for (
        let i = 0;
        i < 100 && readFileSync(`/proc/${sender.pid}/comm`, 'utf8').trim() !== comm;
        i++
      ) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const example = run(
        process.execPath,
        [join(root, 'examples', 'top-processes.mjs'), net.a.device],
        {
          cwd: root,
          timeout: 20_000,
        },
      );
      // Send in the middle of the example's five seconds.
      await new Promise((r) => setTimeout(r, 2000));
      sender.stdin!.end('go\n');
      const { stdout } = await example;
      const lines = stdout.trim().split('\n');
      assert.ok(lines.length >= 4, `one line per second, then the end line:\n${stdout}`);
      assert.match(
        lines.at(-1) ?? '',
        /^ended: timeout; packets seen \d+, attributed \d+, unknown \d+$/,
      );
      // Per-second windows: the sender's sent bytes over all lines are exactly what it sent.
      let sent = 0;
      const pattern = new RegExp(`${comm}\\[${sender.pid}\\] ↑(\\d+) ↓(\\d+)`);
      for (const line of lines) sent += Number(pattern.exec(line)?.[1] ?? 0);
      assert.equal(sent, DATAGRAMS * (PAYLOAD_BYTES + UDP_IPV4_HEADER_BYTES), stdout);
    } finally {
      await net.destroy();
    }
  },
);

test(
  'examples/top-containers.mjs runs on loopback and ends by its capture timeout',
  { skip: needsRoot('capture'), timeout: 30_000 },
  async () => {
    const root = packageRoot();
    const { stdout } = await run(
      process.execPath,
      [join(root, 'examples', 'top-containers.mjs'), 'lo'],
      { cwd: root, timeout: 20_000 },
    );
    const lines = stdout.trim().split('\n');
    assert.ok(lines.length >= 4, `one line per second, then the end line:\n${stdout}`);
    assert.match(lines.at(-1) ?? '', /^ended: timeout; containers named \d+ of \d+$/);
  },
);
