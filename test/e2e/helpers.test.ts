// Checks the ground-truth machinery itself: the pcap parser on packets written here, the address
// guard, and (as root) that test nets, traffic workers and tcpdump truth agree with each other.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { canCreateTestNets, createTestNet, isTestAddress } from '../helpers/netns.js';
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_LINUX_SLL2,
  buildPacket,
  formatIpv6,
  startReferenceCapture,
  summarizePcap,
  summarizePcapFile,
  truthByProcess,
  writePcap,
} from '../helpers/pcap-truth.js';
import {
  startTcpClient,
  startTcpServer,
  startUdpClient,
  startUdpServer,
} from '../helpers/traffic.js';

const V4_A = Buffer.from([198, 18, 0, 1]);
const V4_B = Buffer.from([198, 18, 0, 2]);
const V6_A = Buffer.from('fd426e66000000000000000000000001', 'hex');
const V6_B = Buffer.from('fd426e66000000000000000000010002', 'hex');
const NOT_ROOT = canCreateTestNets()
  ? false
  : '[needs-root] needs root to create network namespaces';

test('pcap truth sums IP bytes per directional 5-tuple from a file written here', () => {
  const tcp = buildPacket({
    ipVersion: 4,
    protocol: 'tcp',
    src: V4_A,
    dst: V4_B,
    srcPort: 40000,
    dstPort: 80,
    payloadBytes: 100,
  });
  const udp6 = buildPacket({
    ipVersion: 6,
    protocol: 'udp',
    src: V6_B,
    dst: V6_A,
    srcPort: 53,
    dstPort: 5353,
    payloadBytes: 10,
  });
  const arp = Buffer.concat([Buffer.alloc(12), Buffer.from([0x08, 0x06]), Buffer.alloc(28)]);
  // An 802.1Q tag between the MAC addresses and the IPv4 ethertype.
  const tagged = Buffer.concat([
    tcp.subarray(0, 12),
    Buffer.from([0x81, 0x00, 0x00, 0x05]),
    tcp.subarray(12),
  ]);
  const file = writePcap(
    [
      { data: tcp },
      { data: tcp.subarray(0, 74), originalLength: tcp.length }, // snaplen cut, full length known
      { data: udp6 },
      { data: arp },
      { data: tagged },
      { data: tcp.subarray(0, 20) }, // too short for an IPv4 header
    ],
    LINKTYPE_ETHERNET,
  );
  const summary = summarizePcap(file);
  assert.equal(summary.packets, 6);
  assert.equal(summary.otherPackets, 1);
  assert.equal(summary.malformedPackets, 1);
  const v4 = summary.flows.get('6|198.18.0.1|40000|198.18.0.2|80');
  assert.deepEqual(v4, {
    protocol: 6,
    srcAddress: '198.18.0.1',
    srcPort: 40000,
    dstAddress: '198.18.0.2',
    dstPort: 80,
    packets: 3,
    ipBytes: 3 * 140,
    wireBytes: 3 * 154 + 4,
    payloadBytes: 300,
    // The same segment (same sequence number) three times: one segment's worth written.
    streamBytes: 100,
  });
  const v6 = summary.flows.get('17|fd42:6e66::1:2|53|fd42:6e66::1|5353');
  assert.equal(v6?.ipBytes, 40 + 8 + 10);
  assert.equal(v6?.payloadBytes, 10);
  // A truncated trailing record (tcpdump killed mid-write) is ignored, not an error.
  assert.equal(summarizePcap(file.subarray(0, file.length - 3)).packets, 5);
});

test('pcap truth reads Linux cooked v2 captures and rejects other formats', () => {
  const ip = buildPacket({
    ipVersion: 4,
    protocol: 'udp',
    src: V4_A,
    dst: V4_B,
    srcPort: 1,
    dstPort: 2,
    payloadBytes: 5,
    ethernet: false,
  });
  const sll2 = Buffer.alloc(20);
  sll2.writeUInt16BE(0x0800, 0);
  const summary = summarizePcap(
    writePcap([{ data: Buffer.concat([sll2, ip]) }], LINKTYPE_LINUX_SLL2),
  );
  assert.equal(summary.flows.get('17|198.18.0.1|1|198.18.0.2|2')?.ipBytes, 33);
  assert.throws(() => summarizePcap(Buffer.alloc(24)), /not a pcap file/);
  assert.throws(() => summarizePcap(writePcap([], 147)), /link type 147/);
});

test('formats IPv6 addresses as inet_ntop does', () => {
  const cases: [string, string][] = [
    ['fd426e66000000000000000000010002', 'fd42:6e66::1:2'],
    ['00000000000000000000000000000001', '::1'],
    ['20010db8000000010000000000000000', '2001:db8:0:1::'],
    ['20010db8000100000001000000000001', '2001:db8:1:0:1::1'],
    ['00000000000000000000ffffc6120001', '::ffff:198.18.0.1'],
  ];
  for (const [hex, text] of cases) assert.equal(formatIpv6(Buffer.from(hex, 'hex'), 0), text);
});

test('the address guard allows only the test ranges and loopback', () => {
  for (const ok of [
    '198.18.0.1',
    '198.18.0.254',
    '198.18.1.1',
    '198.18.255.2',
    '198.19.7.1',
    '127.0.0.1',
    '::1',
    'fd42:6e66::1',
    'fd42:6e66::3:2',
  ]) {
    assert.equal(isTestAddress(ok), true, ok);
  }
  for (const bad of [
    '198.17.255.255',
    '198.20.0.1',
    '8.8.8.8',
    '10.0.0.1',
    'fd42:6e66:0:1::1',
    '2001:db8::1',
    'fd42::1',
    'x',
  ]) {
    assert.equal(isTestAddress(bad), false, bad);
  }
});

test('truth maps flows to the pids whose sockets sent and received them', () => {
  const flows = [
    {
      protocol: 6,
      srcAddress: '198.18.0.1',
      srcPort: 40000,
      dstAddress: '198.18.0.2',
      dstPort: 80,
      packets: 2,
      ipBytes: 200,
      wireBytes: 228,
      payloadBytes: 120,
      streamBytes: 120,
    },
    {
      protocol: 17,
      srcAddress: '198.18.0.9',
      srcPort: 9,
      dstAddress: '198.18.0.2',
      dstPort: 53,
      packets: 1,
      ipBytes: 50,
      wireBytes: 64,
      payloadBytes: 22,
      streamBytes: 22,
    },
    {
      protocol: 17,
      srcAddress: '198.18.0.9',
      srcPort: 9,
      dstAddress: '198.18.0.7',
      dstPort: 7,
      packets: 1,
      ipBytes: 30,
      wireBytes: 44,
      payloadBytes: 2,
      streamBytes: 2,
    },
  ];
  const sock = {
    sentPayloadBytes: 0,
    receivedPayloadBytes: 0,
    sentDatagrams: 0,
    receivedDatagrams: 0,
  };
  const truth = truthByProcess(flows, [
    {
      type: 'report',
      pid: 10,
      role: 'tcp-client',
      elapsedMs: 0,
      sockets: [
        {
          ...sock,
          protocol: 'tcp',
          localAddress: '198.18.0.1',
          localPort: 40000,
          remoteAddress: '198.18.0.2',
          remotePort: 80,
        },
      ],
    },
    {
      type: 'report',
      pid: 20,
      role: 'tcp-server',
      elapsedMs: 0,
      sockets: [
        {
          ...sock,
          protocol: 'tcp',
          localAddress: '198.18.0.2',
          localPort: 80,
          remoteAddress: '198.18.0.1',
          remotePort: 40000,
        },
      ],
    },
    {
      type: 'report',
      pid: 30,
      role: 'udp-server',
      elapsedMs: 0,
      sockets: [
        {
          ...sock,
          protocol: 'udp',
          localAddress: '198.18.0.2',
          localPort: 53,
          remoteAddress: null,
          remotePort: 0,
        },
      ],
    },
  ]);
  assert.equal(truth.processes.get(10)?.sentBytes, 200);
  assert.equal(truth.processes.get(10)?.receivedBytes, 0);
  assert.equal(truth.processes.get(20)?.receivedBytes, 200);
  assert.equal(truth.processes.get(20)?.receivedWireBytes, 228);
  assert.equal(truth.processes.get(30)?.receivedBytes, 50);
  assert.equal(truth.unmatchedBytes, 30);
});

test(
  'workers and tcpdump agree on TCP/IPv4, TCP/IPv6 and UDP payload bytes across a veth',
  { skip: NOT_ROOT, timeout: 60_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pfe-'));
    const net = await createTestNet({ prefix: 'pfe', v6: true });
    try {
      assert.ok(net.b.ns !== undefined && net.b.ipv6 !== undefined);
      const capture = await startReferenceCapture(
        net,
        undefined,
        net.a.device,
        join(dir, 'ref.pcap'),
      );
      const reports = [];
      for (const address of [net.b.ipv4, net.b.ipv6]) {
        const server = await startTcpServer(net, net.b.ns, {
          address,
          port: 0,
          connections: 2,
          replyBytes: 30_000,
          durationMs: 10_000,
        });
        const client = startTcpClient(net, undefined, {
          address,
          port: server.port,
          connections: 2,
          concurrency: 1,
          ratePerSecond: 0,
          sendBytes: 200_000,
          durationMs: 10_000,
        });
        reports.push(await client.report, await server.report);
      }
      const udpServer = await startUdpServer(net, net.b.ns, {
        address: net.b.ipv4,
        ports: 1,
        replyBytes: 100,
        datagrams: 200,
        durationMs: 10_000,
      });
      // Both UDP clients run at once: sequential ones may reuse the same ephemeral port, and the
      // truth maps flows to pids by endpoint.
      const udpClients = [true, false].map((connected) =>
        startUdpClient(net, undefined, {
          address: net.b.ipv4,
          bindAddress: net.a.ipv4,
          ports: udpServer.ports,
          connected,
          sockets: 1,
          datagrams: 100,
          payloadBytes: 500,
          ratePerSecond: 2000,
          durationMs: 10_000,
        }),
      );
      for (const c of udpClients) reports.push(await c.report);
      reports.push(await udpServer.report);
      const result = await capture.stop();
      assert.equal(result.droppedByKernel, 0, 'reference capture dropped packets');
      const truth = truthByProcess(summarizePcapFile(result.path).flows.values(), reports);
      for (const report of reports) {
        const t = truth.processes.get(report.pid);
        const sent = report.sockets.reduce((s, x) => s + x.sentPayloadBytes, 0);
        const received = report.sockets.reduce((s, x) => s + x.receivedPayloadBytes, 0);
        assert.equal(t?.sentPayloadBytes, sent, `${report.role} ${report.pid} sent payload`);
        assert.equal(
          t?.receivedPayloadBytes,
          received,
          `${report.role} ${report.pid} received payload`,
        );
        assert.ok((t?.sentBytes ?? 0) > sent && (t?.receivedBytes ?? 0) > received);
      }
      assert.equal(
        reports[0]?.sockets.reduce((s, x) => s + x.sentPayloadBytes, 0),
        400_000,
      );
      assert.equal(
        reports[0]?.sockets.reduce((s, x) => s + x.receivedPayloadBytes, 0),
        60_000,
      );
      assert.equal(truth.unmatchedBytes, 0);
    } finally {
      await net.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
    const left = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
    assert.equal(left.includes(net.a.device), false, 'veth left behind');
    assert.equal(
      execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(net.id),
      false,
    );
  },
);

/** Create `count` nets at once in a child process; it prints their hosts as JSON, then waits. */
const NETS_CHILD = `
const { createTestNet } = await import(process.argv[1]);
const nets = await Promise.all(Array.from({ length: Number(process.argv[2]) }, () => createTestNet({ prefix: 'pfk' })));
process.stdout.write(JSON.stringify(nets.map((n) => ({ id: n.id, a: n.a, b: n.b }))) + '\\n');
process.stdin.once('data', async () => { for (const n of nets) await n.destroy(); process.exit(0); });
setTimeout(() => process.exit(1), 30000).unref();
`;

test(
  'test nets created at once by two processes get distinct names, devices and /29s inside 198.18.0.0/16',
  { skip: NOT_ROOT, timeout: 60_000 },
  async () => {
    const self = fileURLToPath(import.meta.url);
    const helper = fileURLToPath(new URL('../helpers/netns.js', import.meta.url));
    const loader = self.endsWith('.ts') ? ['--import', 'tsx'] : [];
    const children = [0, 1].map(() =>
      spawn(
        process.execPath,
        [...loader, '--input-type=module', '-e', NETS_CHILD, helper.replace(/\.ts$/, '.js'), '4'],
        {
          stdio: ['pipe', 'pipe', 'inherit'],
        },
      ),
    );
    const local = await Promise.all([0, 1, 2].map(() => createTestNet({ prefix: 'pfk' })));
    try {
      const reports = await Promise.all(
        children.map(
          (child) =>
            new Promise<
              { id: string; a: { device: string; ipv4: string }; b: { ns: string; ipv4: string } }[]
            >((resolve, reject) => {
              let out = '';
              const timer = setTimeout(
                () => reject(new Error('child did not report its nets')),
                30_000,
              );
              child.stdout.on('data', (d: Buffer) => {
                out += d.toString();
                if (out.includes('\n')) {
                  clearTimeout(timer);
                  resolve(JSON.parse(out) as never);
                }
              });
            }),
        ),
      );
      const all = [...reports.flat(), ...local.map((n) => ({ id: n.id, a: n.a, b: n.b }))];
      assert.equal(all.length, 11);
      const distinct = (values: string[]): number => new Set(values).size;
      assert.equal(distinct(all.map((n) => n.id)), 11, 'ids');
      assert.equal(distinct(all.map((n) => n.a.device)), 11, 'devices');
      assert.equal(distinct(all.map((n) => n.b.ns ?? '')), 11, 'namespaces');
      const subnets = all.map((n) => {
        const [, , c, d] = n.a.ipv4.split('.').map(Number);
        return ((c ?? 0) * 256 + (d ?? 0)) >> 3;
      });
      assert.equal(distinct(subnets.map(String)), 11, '/29s');
      for (const n of all) {
        for (const address of [n.a.ipv4, n.b.ipv4]) {
          assert.match(address, /^198\.18\.\d+\.\d+$/);
          assert.equal(address.startsWith('198.18.0.'), false, `${address} is in the reserved /24`);
        }
      }
    } finally {
      for (const child of children) child.stdin.end('done\n');
      await Promise.all(
        children.map(
          (c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r))),
        ),
      );
      for (const n of local) await n.destroy();
    }
    const links = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
    assert.equal(/ pfk[0-9a-z]+a[@:]/.test(links), false, 'a test veth was left behind');
  },
);
