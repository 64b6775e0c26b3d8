// End-to-end capture as root: known UDP traffic on loopback and over a veth pair into a
// namespace this test creates (addresses allocated per run by test/helpers/netns.ts), counted per direction; the
// pcap file round trip checked with tcpdump -r; and the live error paths, including capture
// without the capability from an unprivileged child process.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { findPackageRoot } from '../../src/capture/addon.js';
import { openCapture } from '../../src/capture/open-capture.js';
import type { PacketSource } from '../../src/capture/packet-source.js';
import { formatDstAddress, formatSrcAddress } from '../../src/decode/address.js';
import { createRecord, readRecord } from '../../src/decode/read-record.js';
import { RECORD_SIZE, REC_OFF_FLOW_HASH } from '../../src/decode/record.js';
import { CaptureError } from '../../src/errors.js';
import { createTestNet } from '../helpers/netns.js';
import { needsRoot } from '../helpers/skip-reasons.js';

const SKIP = needsRoot('CAP_NET_RAW, CAP_NET_ADMIN, netns');
const TEST_TIMEOUT_MS = 60_000;

/** Flow key -> [records, ipBytes, payloadBytes, wireBytes] */
type Tally = Map<string, [number, number, number, number]>;

function collect(source: PacketSource): Tally {
  const tally: Tally = new Map();
  const r = createRecord();
  source.setBatchHandler(({ view, count }) => {
    for (let i = 0; i < count; i++) {
      readRecord(view, i, r);
      const key = `${r.protocol} ${formatSrcAddress(view, i)}:${r.srcPort} > ${formatDstAddress(view, i)}:${r.dstPort}`;
      const t = tally.get(key) ?? [0, 0, 0, 0];
      t[0]++;
      t[1] += r.ipLen;
      t[2] += r.payloadLen;
      t[3] += r.wireLen;
      tally.set(key, t);
    }
  });
  return tally;
}

/** Send `count` datagrams of `size` bytes, awaiting each send (bounded: count <= 5000). */
async function sendUdp(
  socket: dgram.Socket,
  count: number,
  size: number,
  port: number,
  address: string,
): Promise<void> {
  assert.ok(count <= 5000);
  const payload = Buffer.alloc(size, 0x61);
  for (let i = 0; i < count; i++) {
    await new Promise<void>((resolve, reject) =>
      socket.send(payload, port, address, (e) => (e ? reject(e) : resolve())),
    );
  }
}

function bind(type: 'udp4' | 'udp6', address: string): Promise<dgram.Socket> {
  const s = dgram.createSocket(type);
  s.on('message', () => {});
  return new Promise((resolve) => s.bind(0, address, () => resolve(s)));
}

test(
  'loopback: exactly the datagrams sent, per direction, with their IP and payload bytes',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async () => {
    const a = await bind('udp4', '127.0.0.1');
    const b = await bind('udp4', '127.0.0.1');
    const pa = a.address().port;
    const pb = b.address().port;
    const source = openCapture({ devices: ['lo'], filter: `udp and port ${pa} and port ${pb}` });
    const tally = collect(source);
    try {
      source.start();
      await sendUdp(a, 1500, 200, pb, '127.0.0.1');
      await sendUdp(b, 700, 1000, pa, '127.0.0.1');
    } finally {
      await source.stop();
      a.close();
      b.close();
    }
    assert.deepEqual(tally.get(`17 127.0.0.1:${pa} > 127.0.0.1:${pb}`), [
      1500,
      1500 * 228,
      1500 * 200,
      1500 * 242,
    ]);
    assert.deepEqual(tally.get(`17 127.0.0.1:${pb} > 127.0.0.1:${pa}`), [
      700,
      700 * 1028,
      700 * 1000,
      700 * 1042,
    ]);
    assert.equal(tally.size, 2);
    const dev = source.stats().devices[0];
    assert.equal(dev?.deliveredPackets, 2200);
    assert.equal(dev?.capturedPackets, 2200);
    assert.equal(dev?.queueDroppedPackets, 0);
    assert.equal(dev?.kernelDroppedPackets, 0);
  },
);

test(
  'live captures hash flows with a basis of their own: stable within a capture, not across two',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async () => {
    const a = await bind('udp4', '127.0.0.1');
    const b = await bind('udp4', '127.0.0.1');
    const pa = a.address().port;
    const pb = b.address().port;
    const filter = `udp and src port ${pa} and dst port ${pb}`;
    // Two captures of the same flow at once: each record's flow hash, per capture.
    const hashes = [new Set<number>(), new Set<number>()];
    const sources = hashes.map((set) => {
      const source = openCapture({ devices: ['lo'], filter });
      source.setBatchHandler(({ view, count }) => {
        for (let i = 0; i < count; i++)
          set.add(view.getUint32(i * RECORD_SIZE + REC_OFF_FLOW_HASH, true));
      });
      return source;
    });
    try {
      for (const s of sources) s.start();
      await sendUdp(a, 50, 10, pb, '127.0.0.1');
    } finally {
      await Promise.all(sources.map((s) => s.stop()));
      a.close();
      b.close();
    }
    const [first, second] = hashes.map((set) => [...set]);
    // One flow: one hash in each capture (the flow table relies on it)...
    assert.equal(first?.length, 1);
    assert.equal(second?.length, 1);
    // ...but not the same one (2^-32 odds of a false failure): nobody outside can tell which
    // flows share a chain of the flow table.
    assert.notEqual(first?.[0], second?.[0]);
  },
);

test(
  'veth into a namespace: IPv4 and IPv6 datagrams counted exactly per direction',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async () => {
    // Names and addresses allocated per run (test/helpers/netns.ts): two runs never collide.
    const net = await createTestNet({ prefix: 'pfc', v6: true });
    const hostV4 = net.a.ipv4;
    const hostV6 = net.a.ipv6!;
    const nsV4 = net.b.ipv4;
    const nsV6 = net.b.ipv6!;
    let source: PacketSource | undefined;
    const sockets: dgram.Socket[] = [];
    try {
      const s4 = await bind('udp4', hostV4);
      const s6 = await bind('udp6', hostV6);
      sockets.push(s4, s6);
      const p4 = s4.address().port;
      const p6 = s6.address().port;
      const sinkPort = 47000 + (process.pid % 1000);
      source = openCapture({ devices: [net.a.device], filter: `udp and port ${sinkPort}` });
      const tally = collect(source);
      source.start();
      await sendUdp(s4, 800, 300, sinkPort, nsV4);
      await sendUdp(s6, 600, 500, sinkPort, nsV6);
      // The namespace side sends back: 400 x 100 bytes over IPv4, 300 x 50 over IPv6.
      const sender = `import socket
for fam, dst, src, n, size in ((socket.AF_INET, ('${hostV4}', ${p4}), '${nsV4}', 400, 100), (socket.AF_INET6, ('${hostV6}', ${p6}), '${nsV6}', 300, 50)):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((src, ${sinkPort}))
    for _ in range(n):
        s.sendto(b'b' * size, dst)
    s.close()
`;
      await net.exec(net.b.ns, 'python3', ['-c', sender]);
      // No sleep: stop() reads what the kernel captured before it returns.
      await source.stop();
      assert.deepEqual(tally.get(`17 ${hostV4}:${p4} > ${nsV4}:${sinkPort}`), [
        800,
        800 * 328,
        800 * 300,
        800 * 342,
      ]);
      assert.deepEqual(tally.get(`17 ${hostV6}:${p6} > ${nsV6}:${sinkPort}`), [
        600,
        600 * 548,
        600 * 500,
        600 * 562,
      ]);
      assert.deepEqual(tally.get(`17 ${nsV4}:${sinkPort} > ${hostV4}:${p4}`), [
        400,
        400 * 128,
        400 * 100,
        400 * 142,
      ]);
      assert.deepEqual(tally.get(`17 ${nsV6}:${sinkPort} > ${hostV6}:${p6}`), [
        300,
        300 * 98,
        300 * 50,
        300 * 112,
      ]);
      assert.equal(tally.size, 4);
      const dev = source.stats().devices[0];
      assert.equal(dev?.kernelDroppedPackets, 0);
      assert.equal(dev?.queueDroppedPackets, 0);
      assert.equal(dev?.deliveredPackets, 2100);
    } finally {
      await source?.stop();
      for (const s of sockets) s.close();
      await net.destroy();
    }
  },
);

function tcpdumpCount(file: string, filter: string): number {
  const out = execFileSync('tcpdump', ['-nn', '-r', file, filter], {
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 20_000,
  });
  return out
    .toString()
    .split('\n')
    .filter((l) => l.length > 0).length;
}

test(
  'pcap file: tcpdump -r reads back every packet, across size rotation',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pfc-pcap-'));
    const a = await bind('udp4', '127.0.0.1');
    const b = await bind('udp4', '127.0.0.1');
    const pa = a.address().port;
    const pb = b.address().port;
    const filter = `udp and port ${pa} and port ${pb}`;
    const path = join(dir, 'capture.pcap');
    const source = openCapture({
      devices: ['lo'],
      filter,
      pcapFile: { path, snaplen: 96, rotateBytes: 64 * 1024 },
    });
    collect(source);
    try {
      source.start();
      await sendUdp(a, 1200, 400, pb, '127.0.0.1');
      await source.stop();
      const files = readdirSync(dir).sort();
      const stats = source.stats().pcap;
      assert.ok(stats);
      assert.equal(stats.error, undefined);
      assert.equal(stats.writtenPackets, 1200);
      assert.equal(stats.files, files.length);
      // 1200 x (16 + 96) bytes with 64 KiB files: at least 3 files.
      assert.ok(files.length >= 3, `files: ${files.join(', ')}`);
      assert.deepEqual(
        files,
        [
          'capture.pcap',
          ...Array.from({ length: files.length - 1 }, (_, i) => `capture.pcap.${i + 1}`),
        ].sort(),
      );
      const total = files.reduce((sum, f) => sum + tcpdumpCount(join(dir, f), filter), 0);
      assert.equal(total, 1200);
    } finally {
      await source.stop();
      a.close();
      b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'pcap file: an unwritable path is reported in stats and the capture goes on',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async () => {
    const a = await bind('udp4', '127.0.0.1');
    const pa = a.address().port;
    const source = openCapture({
      devices: ['lo'],
      filter: `udp and port ${pa}`,
      pcapFile: { path: '/proc/pfc-no-such-dir/x.pcap' },
    });
    const tally = collect(source);
    try {
      source.start();
      await sendUdp(a, 50, 10, pa, '127.0.0.1');
    } finally {
      await source.stop();
      a.close();
    }
    const pcap = source.stats().pcap;
    assert.match(
      pcap?.error ?? '',
      /^cannot write \/proc\/pfc-no-such-dir\/x\.pcap: .*No such file or directory/,
    );
    assert.equal(pcap?.writtenPackets, 0);
    assert.equal(
      [...tally.values()].reduce((s, t) => s + t[0], 0),
      50,
    );
  },
);

test('live errors: bad filter and unknown device', { skip: SKIP, timeout: TEST_TIMEOUT_MS }, () => {
  assert.throws(
    () => openCapture({ devices: ['lo'], filter: 'udp portt 53' }),
    (e: unknown) =>
      e instanceof CaptureError &&
      e.code === 'ERR_CAPTURE_FILTER' &&
      e.message.startsWith('invalid capture filter "udp portt 53": ') &&
      /syntax error/.test(e.message),
  );
  assert.throws(
    () => openCapture({ devices: ['pfcnosuch0'] }),
    (e: unknown) =>
      e instanceof CaptureError &&
      e.code === 'ERR_CAPTURE_NO_DEVICE' &&
      e.message.startsWith('no capture device named "pfcnosuch0" (libpcap: ') &&
      /available devices: .*\blo\b/.test(e.message),
  );
});

test(
  'without CAP_NET_RAW an unprivileged process gets a PermissionError with the fix',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  () => {
    const self = fileURLToPath(import.meta.url);
    const moduleUrl = new URL('../../src/capture/open-capture.js', import.meta.url).href;
    const script = `import { openCapture } from ${JSON.stringify(moduleUrl)};
try { openCapture({ devices: ['lo'] }); console.log(JSON.stringify({ ok: true })); }
catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }`;
    const loader = self.endsWith('.ts') ? ['--import', 'tsx'] : [];
    const result = spawnSync(
      'setpriv',
      [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        '--inh-caps=-all',
        process.execPath,
        ...loader,
        '--input-type=module',
        '-e',
        script,
      ],
      {
        encoding: 'utf8',
        timeout: 30_000,
        cwd: findPackageRoot(),
        env: { ...process.env, HOME: tmpdir() },
      },
    );
    assert.equal(result.status, 0, result.stderr);
    const out = JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as {
      name?: string;
      code?: string;
      message?: string;
    };
    assert.equal(out.name, 'PermissionError');
    assert.equal(out.code, 'ERR_PERMISSION');
    assert.match(
      out.message ?? '',
      /^capture on lo needs CAP_NET_RAW and CAP_NET_ADMIN: run as root, or grant them with setcap cap_net_raw,cap_net_admin\+eip \$\(readlink -f \$\(which node\)\) \(libpcap: .*Operation not permitted/,
    );
  },
);

test(
  'pcap file: a full disk is reported in stats and the capture goes on',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async () => {
    const a = await bind('udp4', '127.0.0.1');
    const pa = a.address().port;
    // /dev/full accepts open() and fails every write with ENOSPC.
    const source = openCapture({
      devices: ['lo'],
      filter: `udp and port ${pa}`,
      pcapFile: { path: '/dev/full' },
    });
    const tally = collect(source);
    try {
      source.start();
      await sendUdp(a, 200, 10, pa, '127.0.0.1');
    } finally {
      await source.stop();
      a.close();
    }
    assert.equal(source.stats().pcap?.error, 'writing /dev/full failed: No space left on device');
    assert.equal(
      [...tally.values()].reduce((s, t) => s + t[0], 0),
      200,
    );
    assert.equal(source.stats().devices[0]?.deliveredPackets, 200);
  },
);

test(
  'process.exit() without stop(): threads end and the pcap file is complete',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'pfc-exit-'));
    const path = join(dir, 'exit.pcap');
    try {
      const self = fileURLToPath(import.meta.url);
      const moduleUrl = new URL('../../src/capture/open-capture.js', import.meta.url).href;
      const script = `import { openCapture } from ${JSON.stringify(moduleUrl)};
import dgram from 'node:dgram';
const s = dgram.createSocket('udp4');
s.bind(0, '127.0.0.1', async () => {
  const port = s.address().port;
  const source = openCapture({ devices: ['lo'], filter: 'udp and port ' + port, pcapFile: { path: ${JSON.stringify(path)} } });
  source.setBatchHandler(() => {});
  source.start();
  for (let i = 0; i < 300; i++) await new Promise((r) => s.send(Buffer.alloc(32), port, '127.0.0.1', r));
  await new Promise((r) => setTimeout(r, 300));
  process.exit(0);
});`;
      const loader = self.endsWith('.ts') ? ['--import', 'tsx'] : [];
      const result = spawnSync(process.execPath, [...loader, '--input-type=module', '-e', script], {
        encoding: 'utf8',
        timeout: 30_000,
        cwd: findPackageRoot(),
      });
      assert.equal(result.signal, null, 'the child did not hang');
      assert.equal(result.status, 0, result.stderr);
      const read = spawnSync('tcpdump', ['-nn', '-r', path], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(read.status, 0, read.stderr);
      assert.doesNotMatch(read.stderr, /truncated/);
      assert.equal(read.stdout.split('\n').filter((l) => l.length > 0).length, 300);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  "any: a loopback datagram is delivered once, as received, with lo's ifindex (SLL2)",
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async () => {
    const a = await bind('udp4', '127.0.0.1');
    const pa = a.address().port;
    const loIndex = Number(
      execFileSync('cat', ['/sys/class/net/lo/ifindex'], { encoding: 'utf8' }).trim(),
    );
    const source = openCapture({ devices: ['any'], filter: `udp and port ${pa}` });
    const byDirection = new Map<string, number>();
    const ifindexes = new Set<number>();
    const r = createRecord();
    source.setBatchHandler(({ view, count }) => {
      for (let i = 0; i < count; i++) {
        readRecord(view, i, r);
        ifindexes.add(r.ifindex);
        const key = `${r.direction} ${r.ipLen}`;
        byDirection.set(key, (byDirection.get(key) ?? 0) + 1);
      }
    });
    try {
      source.start();
      await sendUdp(a, 400, 72, pa, '127.0.0.1');
    } finally {
      await source.stop();
      a.close();
    }
    // The kernel shows lo's packets leaving and arriving; libpcap drops the outgoing copy on
    // loopback, so each is delivered once as direction 1 = host (packet(7)). IP length 20+8+72.
    assert.deepEqual(Object.fromEntries(byDirection), { '1 100': 400 });
    assert.deepEqual([...ifindexes], [loIndex]);
    assert.equal(source.stats().devices[0]?.linkType, 276);
  },
);

test(
  'several devices: one missing is a warning, the others capture',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async () => {
    const a = await bind('udp4', '127.0.0.1');
    const pa = a.address().port;
    const warnings: string[] = [];
    const source = openCapture({
      devices: ['pfcnosuch1', 'lo'],
      filter: `udp and port ${pa}`,
      onWarning: (message) => warnings.push(message),
    });
    const tally = collect(source);
    try {
      source.start();
      await sendUdp(a, 100, 8, pa, '127.0.0.1');
    } finally {
      await source.stop();
      a.close();
    }
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0] ?? '',
      /^no capture device named "pfcnosuch1" \(libpcap: .*\); available devices: .*\blo\b/,
    );
    assert.deepEqual(source.devices, ['pfcnosuch1', 'lo']);
    assert.deepEqual([...tally.values()], [[100, 100 * 36, 100 * 8, 100 * 50]]);
    assert.deepEqual(
      source.stats().devices.map((d) => d.device),
      ['lo'],
    );
  },
);
