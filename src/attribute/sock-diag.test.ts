import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseNetTableLine } from './net-table.js';
import { SOCK_DIAG_RECORD_SIZE, SockDiagTables, decodeRecords } from './sock-diag.js';
import type { SockDiagAddon } from './sock-diag.js';

/** One record as native/sock_diag.cc writes it. */
function record(o: {
  family: 4 | 6;
  protocol: number;
  state: number;
  localPort: number;
  remotePort: number;
  uid: number;
  inode: number;
  local: number[];
  remote: number[];
}): Buffer {
  const b = Buffer.alloc(SOCK_DIAG_RECORD_SIZE);
  b[0] = o.family;
  b[1] = o.protocol;
  b[2] = o.state;
  b.writeUInt16LE(o.localPort, 4);
  b.writeUInt16LE(o.remotePort, 6);
  b.writeUInt32LE(o.uid, 8);
  b.writeUInt32LE(o.inode, 12);
  Buffer.from(o.local).copy(b, 16);
  Buffer.from(o.remote).copy(b, 32);
  return b;
}

const MAPPED = (a: number, b: number, c: number, d: number): number[] => [
  ...new Array<number>(10).fill(0),
  0xff,
  0xff,
  a,
  b,
  c,
  d,
];

test('decodes records into the same entries as the /proc/net lines of the same sockets', () => {
  const records = Buffer.concat([
    record({
      family: 4,
      protocol: 6,
      state: 10,
      localPort: 631,
      remotePort: 0,
      uid: 0,
      inode: 111,
      local: [127, 0, 0, 1],
      remote: [0, 0, 0, 0],
    }),
    record({
      family: 6,
      protocol: 6,
      state: 1,
      localPort: 8080,
      remotePort: 40000,
      uid: 1000,
      inode: 222,
      local: MAPPED(198, 18, 0, 2),
      remote: MAPPED(198, 18, 0, 1),
    }),
    record({
      family: 6,
      protocol: 17,
      state: 7,
      localPort: 53,
      remotePort: 0,
      uid: 0,
      inode: 333,
      local: MAPPED(198, 18, 0, 2),
      remote: new Array<number>(16).fill(0),
    }),
    record({
      family: 6,
      protocol: 6,
      state: 6,
      localPort: 443,
      remotePort: 5000,
      uid: 0,
      inode: 0,
      local: [0xfd, 0x42, 0x6e, 0x66, ...new Array<number>(11).fill(0), 1],
      remote: [0xfd, 0x42, 0x6e, 0x66, ...new Array<number>(11).fill(0), 2],
    }),
  ]);
  const lines: [string, number][] = [
    [
      '   0: 0100007F:0277 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0 100 0 0 10 0',
      6,
    ],
    [
      '   0: 0000000000000000FFFF0000020012C6:1F90 0000000000000000FFFF0000010012C6:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 222 1 0 20 4 30 10 -1',
      6,
    ],
    [
      '   0: 0000000000000000FFFF0000020012C6:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 333 2 0 0',
      17,
    ],
    [
      '   0: 0000000000000000FFFF00000200426E:01BB 0000000000000000FFFF00000000426E:1388 06 00000000:00000000 03:00001000 00000000     0        0 0 3 0',
      6,
    ],
  ];
  const decoded = decodeRecords(records);
  assert.equal(decoded.length, 4);
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(decoded[i], parseNetTableLine(lines[i]![0], lines[i]![1]), `record ${i}`);
  }
  assert.deepEqual(decoded[3], {
    protocol: 6,
    ipVersion: 6,
    localAddress: 'fd42:6e66::1',
    localPort: 443,
    remoteAddress: 'fd42:6e66::2',
    remotePort: 5000,
    state: 6,
    uid: 0,
    inode: 0,
  });
});

test('reuses the entry of a socket whose record did not change, and only then', () => {
  const a = record({
    family: 4,
    protocol: 17,
    state: 7,
    localPort: 53,
    remotePort: 0,
    uid: 0,
    inode: 7,
    local: [198, 18, 0, 2],
    remote: [0, 0, 0, 0],
  });
  const b = record({
    family: 4,
    protocol: 17,
    state: 7,
    localPort: 54,
    remotePort: 0,
    uid: 0,
    inode: 8,
    local: [198, 18, 0, 2],
    remote: [0, 0, 0, 0],
  });
  const ns = { previous: undefined, entries: new Map() };
  const first = decodeRecords(Buffer.concat([a, b]), ns);
  const bConnected = Buffer.from(b);
  bConnected.writeUInt16LE(9, 6);
  bConnected[2] = 1;
  const second = decodeRecords(Buffer.concat([bConnected, a]), ns);
  assert.equal(second[1], first[0]);
  assert.notEqual(second[0], first[1]);
  assert.equal(second[0]?.remotePort, 9);
});

function fakeAddon(behaviour: {
  open?: (path: string | null) => { fd: number; netns: number };
  failedMask?: number;
}): SockDiagAddon & { closed: number[]; opened: number } {
  let nextFd = 100;
  const fake = {
    closed: [] as number[],
    opened: 0,
    sockDiagVersion: 1,
    sockDiagRecordSize: SOCK_DIAG_RECORD_SIZE,
    sockDiagOpen: (path: string | null) => {
      fake.opened++;
      if (behaviour.open) return behaviour.open(path);
      return { fd: nextFd++, netns: path === null ? 1 : Number(/\/proc\/(\d+)\//.exec(path)?.[1]) };
    },
    sockDiagDump: () =>
      Promise.resolve({
        records: new Uint8Array(0),
        failedMask: behaviour.failedMask ?? 0,
        errno: 22,
        dropped: 0,
      }),
    sockDiagClose: (fd: number) => void fake.closed.push(fd),
  };
  return fake;
}

test('a namespace where netlink is refused falls back to /proc, and is retried later', async () => {
  const refused = Object.assign(new Error('setns /proc/5/ns/net: Operation not permitted'), {
    code: 'EPERM',
  });
  const addon = fakeAddon({
    open: (path) => {
      if (path === null) return { fd: 3, netns: 1 };
      throw refused;
    },
  });
  const tables = new SockDiagTables(addon, { retryAfterReads: 2 });
  assert.equal(await tables.read(5, 5), undefined);
  assert.match(tables.stats().lastError, /Operation not permitted/);
  const opens = addon.opened;
  assert.equal(await tables.read(5, 5), undefined);
  assert.equal(await tables.read(5, 5), undefined);
  assert.equal(addon.opened, opens, 'not retried before retryAfterReads reads');
  assert.equal(await tables.read(5, 5), undefined);
  assert.equal(addon.opened, opens + 1, 'retried after retryAfterReads reads');
  assert.equal(tables.stats().fallbacks, 4);
});

test('a refused table sends the namespace to /proc; a missing UDP-Lite table does not', async () => {
  const noUdp = new SockDiagTables(fakeAddon({ failedMask: 0b100 }));
  assert.equal(await noUdp.read(5, 5), undefined);
  assert.match(noUdp.stats().lastError, /refused a table/);
  const noLite = new SockDiagTables(fakeAddon({ failedMask: 0b110000 }));
  assert.deepEqual(await noLite.read(5, 5), []);
  assert.equal(noLite.stats().dumps, 1);
});

test('a pid that moved to another namespace is not read as the one asked for', async () => {
  const addon = fakeAddon({ open: (path) => ({ fd: 9, netns: path === null ? 1 : 77 }) });
  const tables = new SockDiagTables(addon);
  assert.equal(await tables.read(5, 5), undefined);
  assert.deepEqual(addon.closed, [9]);
});

test('prune closes the sockets of namespaces no process is in any more (they pin the namespace)', async () => {
  const addon = fakeAddon({});
  const tables = new SockDiagTables(addon);
  await tables.read(5, 5);
  await tables.read(6, 6);
  assert.equal(tables.stats().openNamespaces, 2);
  tables.prune(new Set([6]));
  assert.equal(tables.stats().openNamespaces, 1);
  assert.equal(addon.closed.length, 1);
  tables.close();
  assert.equal(addon.closed.length, 2);
  assert.equal(await tables.read(6, 6), undefined);
});
