// Bounded random (property) tests of the /proc readers with hostile contents: names full of
// parentheses, spaces, line feeds, escape sequences and invalid UTF-8; garbage lines, links and
// cgroup paths. The readers never throw, and never report a wrong pid or start time.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeProcFs, ipv4TableLine } from '../../test/helpers/fake-procfs.js';
import { attributorHarness, flowTuple } from '../../test/helpers/attributor-harness.js';
import { decodeBytes } from '../text/bytes.js';
import { TcpState, parseNetTable, PROTOCOL_TCP } from './net-table.js';
import {
  parseContainer,
  parsePasswd,
  parseProcessStat,
  parseStatusUid,
  pickCgroupPath,
  processKey,
  readProcessInfo,
} from './process-info.js';
import { parseSocketLink } from './socket-owners.js';

const ROUNDS = 3000;

/** A small deterministic PRNG (mulberry32): the same cases on every run. */
function randomSource(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Bytes an attacker likes in a name: the separators of stat, status, cgroup and cmdline, escape
// sequences, digits that look like fields, and the bytes around UTF-8 boundaries.
const NASTY = [
  ...Buffer.from(') (:\n\r\t\0 \x1b[]0123456789-/\\"S'),
  0x7f,
  0x80,
  0x9b,
  0xc3,
  0xe2,
  0xed,
  0xf0,
  0xff,
];

function hostileBytes(random: () => number, maxLength: number): Buffer {
  const length = Math.floor(random() * (maxLength + 1));
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) {
    bytes[i] =
      random() < 0.7 ? NASTY[Math.floor(random() * NASTY.length)]! : Math.floor(random() * 256);
  }
  return bytes;
}

function hostileText(random: () => number, maxLength: number): string {
  return decodeBytes(hostileBytes(random, maxLength));
}

function statLine(pid: number, comm: string, ppid: number, startTime: number): string {
  return `${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 ${startTime} 1000000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n`;
}

test('stat: a hostile comm never changes the pid, ppid or start time read', () => {
  const random = randomSource(1);
  for (let n = 0; n < ROUNDS; n++) {
    const pid = 1 + Math.floor(random() * 4_194_303);
    const ppid = Math.floor(random() * 4_194_304);
    const startTime = Math.floor(random() * 2 ** 40);
    // The kernel keeps 15 bytes of comm; longer ones test the parser, not the kernel.
    const comm = hostileText(random, random() < 0.5 ? 15 : 64);
    const stat = parseProcessStat(statLine(pid, comm, ppid, startTime));
    assert.ok(stat, JSON.stringify(comm));
    assert.equal(stat.pid, pid);
    assert.equal(stat.ppid, ppid);
    assert.equal(stat.startTime, startTime);
    assert.equal(stat.comm, comm);
  }
});

test('stat, status, cgroup, passwd, fd links and net tables: garbage never throws', () => {
  const random = randomSource(2);
  for (let n = 0; n < ROUNDS; n++) {
    const junk = hostileText(random, 300);
    const stat = parseProcessStat(junk);
    if (stat !== undefined) {
      assert.ok(Number.isSafeInteger(stat.pid) && Number.isSafeInteger(stat.startTime));
    }
    const uid = parseStatusUid(junk);
    assert.ok(uid === undefined || Number.isSafeInteger(uid));
    const path = pickCgroupPath(junk);
    assert.equal(typeof path, 'string');
    const container = parseContainer(junk);
    assert.ok(container === undefined || /^[0-9a-f]{64}$/.test(container.id));
    for (const [uidOf, name] of parsePasswd(junk)) {
      assert.ok(Number.isSafeInteger(uidOf));
      assert.ok(name.length > 0);
    }
    const inode = parseSocketLink(junk);
    assert.ok(inode === undefined || (Number.isSafeInteger(inode) && inode > 0));
    const table = parseNetTable(junk, PROTOCOL_TCP);
    assert.ok(table.malformedLines >= 0);
    for (const e of table.entries) assert.ok(Number.isSafeInteger(e.inode));
  }
});

test('fd links: only an exact socket:[N] names a socket, whatever else the link says', () => {
  const random = randomSource(3);
  for (let n = 0; n < ROUNDS; n++) {
    const inode = 1 + Math.floor(random() * 2 ** 32);
    assert.equal(parseSocketLink(`socket:[${inode}]`), inode);
    const junk = hostileText(random, 20);
    assert.equal(parseSocketLink(`socket:[${inode}]${junk}`), junk === '' ? inode : undefined);
    assert.equal(parseSocketLink(`/tmp/socket:[${inode}]`), undefined);
  }
});

test('net tables: garbage lines between real ones are counted and skipped, real ones kept', () => {
  const random = randomSource(4);
  for (let n = 0; n < 300; n++) {
    const lines: string[] = [];
    const inodes: number[] = [];
    for (let i = 0; i < 8; i++) {
      if (random() < 0.5) {
        const inode = 1000 + n * 10 + i;
        inodes.push(inode);
        lines.push(
          ipv4TableLine(i, `127.0.0.1:${2000 + i}`, '127.0.0.1:80', TcpState.established, inode),
        );
      } else {
        lines.push(`${hostileText(random, 200).replace(/\n/g, ' ')}\n`);
      }
    }
    const table = parseNetTable(lines.join(''), PROTOCOL_TCP);
    for (const inode of inodes)
      assert.ok(
        table.entries.some((e) => e.inode === inode),
        `inode ${inode}`,
      );
  }
});

test('process info: hostile comm, cmdline, status, cgroup and exe never throw or change the key', () => {
  const random = randomSource(5);
  for (let n = 0; n < 1000; n++) {
    const procFs = new FakeProcFs();
    const pid = 100 + n;
    const startTime = 5000 + n;
    const comm = hostileText(random, 15);
    procFs.addProcess({ pid, comm, startTime, uid: 1000 });
    const base = `/proc/${pid}`;
    if (random() < 0.5) procFs.setFile(`${base}/cmdline`, hostileText(random, 600));
    if (random() < 0.3) procFs.setFile(`${base}/status`, hostileText(random, 300));
    if (random() < 0.5) procFs.setFile(`${base}/cgroup`, hostileText(random, 300));
    if (random() < 0.3) procFs.setLink(`${base}/exe`, hostileText(random, 100));
    if (random() < 0.2) procFs.setLink(`${base}/ns/net`, hostileText(random, 30));
    const stat = parseProcessStat(procFs.readText(`${base}/stat`));
    assert.ok(stat);
    const result = readProcessInfo(procFs, stat, (uid) => `u${uid}`);
    assert.equal(result.status, 'ok');
    if (result.status !== 'ok') continue;
    assert.equal(result.info.pid, pid);
    assert.equal(result.info.startTime, startTime);
    assert.equal(result.info.key, processKey(pid, startTime));
    assert.ok(Buffer.byteLength(result.info.cmdline.join('\0')) <= 3 * 4096);
  }
});

test('attribution over a hostile /proc: flows go to the right pid and start time, the scan goes on', async () => {
  const random = randomSource(6);
  const procFs = new FakeProcFs();
  procFs.addProcess({ pid: 1, comm: 'init', netns: 4026531840 });
  const lines: string[] = [];
  const expected = new Map<number, { pid: number; startTime: number }>();
  for (let i = 0; i < 40; i++) {
    const pid = 1000 + i;
    const startTime = 77_000 + i * 13;
    const inode = 50_000 + i;
    procFs.addProcess({
      pid,
      comm: hostileText(random, 15),
      startTime,
      cmdline: [hostileText(random, 100), hostileText(random, 100)],
      cgroup: `0::/${hostileText(random, 80)}\n`,
      exe: hostileText(random, 60),
      sockets: [inode],
    });
    // Garbage fds next to the socket.
    procFs.setLink(`/proc/${pid}/fd/9`, hostileText(random, 40));
    procFs.setLink(`/proc/${pid}/fd/10`, `socket:[${hostileText(random, 10)}]`);
    lines.push(
      ipv4TableLine(i, `127.0.0.1:${30_000 + i}`, '198.18.0.9:80', TcpState.established, inode),
    );
    lines.push(`${hostileText(random, 150).replace(/\n/g, ' ')}\n`);
    expected.set(30_000 + i, { pid, startTime });
  }
  // A process whose files are all garbage: skipped, never an error.
  procFs.setFile('/proc/999/stat', hostileText(random, 200));
  procFs.setFile('/proc/999/status', hostileText(random, 200));
  procFs.setNetFiles(1, {
    tcp: lines.join(''),
    fib_trie: '     |-- 127.0.0.1\n        /32 host LOCAL\n',
  });
  procFs.setFile('/etc/passwd', `${hostileText(random, 500)}\nroot:x:0:0::/root:/bin/sh\n`);
  const { attributor, resolved } = attributorHarness(procFs, ['127.0.0.1']);
  await attributor.start();
  try {
    for (const [port] of expected) {
      attributor.ingest(flowTuple(6, '127.0.0.1', port, '198.18.0.9', 80), {
        packets: 1,
        bytes: 100,
        payloadBytes: 60,
        wireBytes: 114,
        firstMs: 1,
        lastMs: 2,
        tcpFlags: 0x10,
      });
    }
    attributor.flush();
    assert.equal(resolved.length, expected.size);
    for (const { flow, attribution } of resolved) {
      const want = expected.get(flow.srcPort)!;
      assert.equal(attribution.sender?.process.pid, want.pid);
      assert.equal(attribution.sender?.process.startTime, want.startTime);
      assert.equal(attribution.sender?.process.key, processKey(want.pid, want.startTime));
    }
  } finally {
    attributor.stop();
  }
});
