// Differential test of the socket table readers: sock_diag netlink (the addon) and /proc/net
// text must list the same sockets, field for field, in a live namespace holding sockets in
// every state (listen, established, time-wait, close-wait, fin-wait-2, UDP bound and
// connected, IPv4, IPv6 and IPv4-mapped), and the scanner must find the same owners either way.

import assert from 'node:assert/strict';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { loadAddon } from '../../src/capture/addon.js';
import { Attributor } from '../../src/attribute/attributor.js';
import { readNamespaceTables } from '../../src/attribute/net-namespaces.js';
import { NodeProcFs } from '../../src/attribute/procfs.js';
import { parseNamespaceLink } from '../../src/attribute/process-info.js';
import type { SocketEntry } from '../../src/attribute/net-table.js';
import { TcpState } from '../../src/attribute/net-table.js';
import {
  ALL_TCP_STATES,
  OWNED_TCP_STATES,
  SockDiagTables,
  hasSockDiag,
} from '../../src/attribute/sock-diag.js';
import type { FlowCounters, FlowTuple } from '../../src/attribute/types.js';
import { canCreateTestNets, createTestNet } from '../helpers/netns.js';

const TIME_LIMIT_MS = 60_000;
const CHILD_LIFETIME_S = 50;

// Sockets in every state, in the namespace the child runs in. Prints one JSON line when all
// are in place, then sleeps (and exits by itself after CHILD_LIFETIME_S).
const CHILD = `
import socket, sys, time, json, signal
signal.alarm(${CHILD_LIFETIME_S})
v4, v6 = sys.argv[1], sys.argv[2]
keep = []
def listener(family, host, port=0, v6only=None):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if v6only is not None: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    s.bind((host, port)); s.listen(64); keep.append(s); return s
def pair(l, family, host):
    c = socket.socket(family, socket.SOCK_STREAM); c.connect((host, l.getsockname()[1]))
    a, _ = l.accept(); return c, a
l4 = listener(socket.AF_INET, v4)
l6 = listener(socket.AF_INET6, v6, v6only=1)
ld = listener(socket.AF_INET6, '::', v6only=0)
llo = listener(socket.AF_INET, '127.0.0.1')
# established, v4, v6 and v4 to a dual-stack listener (IPv4-mapped on the server side)
for l, f, h in [(l4, socket.AF_INET, v4), (l6, socket.AF_INET6, v6), (ld, socket.AF_INET, v4), (ld, socket.AF_INET6, v6), (llo, socket.AF_INET, '127.0.0.1')]:
    keep.extend(pair(l, f, h))
# time-wait (client closes first, server answers with its FIN) and close-wait / fin-wait-2
for l, f, h in [(l4, socket.AF_INET, v4), (l6, socket.AF_INET6, v6), (ld, socket.AF_INET, v4)]:
    c, a = pair(l, f, h); c.close(); time.sleep(0.05); a.close()
    c, a = pair(l, f, h); c.close(); keep.append(a)
# UDP: bound, connected, dual-stack, wildcard
for f, h in [(socket.AF_INET, v4), (socket.AF_INET6, v6), (socket.AF_INET, '0.0.0.0'), (socket.AF_INET6, '::')]:
    u = socket.socket(f, socket.SOCK_DGRAM); u.bind((h, 0)); keep.append(u)
    c = socket.socket(f, socket.SOCK_DGRAM); c.bind((h if h not in ('0.0.0.0', '::') else (v4 if f == socket.AF_INET else v6), 0))
    c.connect((v4 if f == socket.AF_INET else v6, u.getsockname()[1])); keep.append(c)
m = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); m.connect((v4 if False else '::ffff:' + v4, 9)); keep.append(m)
time.sleep(0.3)
print(json.dumps({'sockets': len(keep)}), flush=True)
signal.pause()
`;

const ONE_PACKET: FlowCounters = {
  packets: 1,
  bytes: 100,
  payloadBytes: 60,
  wireBytes: 114,
  firstMs: 0,
  lastMs: 0,
  tcpFlags: 0x10,
};

function key(e: SocketEntry): string {
  return [
    e.protocol,
    e.ipVersion,
    e.localAddress,
    e.localPort,
    e.remoteAddress,
    e.remotePort,
    e.state,
    e.uid,
    e.inode,
  ].join('|');
}

function sorted(entries: readonly SocketEntry[]): string[] {
  return entries.map(key).sort();
}

test(
  'sock_diag and /proc/net list the same sockets in every state, and give the same owners',
  {
    timeout: TIME_LIMIT_MS,
    skip: canCreateTestNets() ? false : 'needs root to create network namespaces',
  },
  async () => {
    const addon = loadAddon();
    assert.ok(hasSockDiag(addon), 'the addon has no sock_diag reader: npm run build:native');
    const net = await createTestNet({ prefix: 'pfd', v6: true });
    const tables = new SockDiagTables(addon, { tcpStates: ALL_TCP_STATES });
    const owned = new SockDiagTables(addon);
    try {
      const child = net.spawnIn(net.b.ns, 'python3', ['-c', CHILD, net.b.ipv4, net.b.ipv6!], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const line = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('child did not start in 20 s')), 20_000);
        createInterface({ input: child.stdout! }).once('line', (l) => {
          clearTimeout(timer);
          resolve(l);
        });
      });
      assert.ok((JSON.parse(line) as { sockets: number }).sockets > 20);
      const procFs = new NodeProcFs('/');
      const netns = parseNamespaceLink(procFs.readlink(`/proc/${child.pid}/ns/net`));
      const fromProc = await readNamespaceTables(procFs, child.pid, netns);
      assert.ok(fromProc !== undefined);
      const fromNetlink = await tables.read(child.pid, netns);
      assert.ok(fromNetlink !== undefined, `netlink refused: ${tables.stats().lastError}`);

      // Every state the test meant to create is there, so the comparison covers it.
      const tcp = fromProc.sockets.filter((e) => e.protocol === 6);
      const udp = fromProc.sockets.filter((e) => e.protocol === 17);
      for (const state of [
        TcpState.listen,
        TcpState.established,
        TcpState.timeWait,
        TcpState.closeWait,
        TcpState.finWait2,
      ]) {
        assert.ok(
          tcp.some((e) => e.state === state),
          `no TCP socket in state ${state}`,
        );
      }
      for (const version of [4, 6] as const) {
        assert.ok(tcp.some((e) => e.ipVersion === version && e.state === TcpState.established));
        assert.ok(udp.some((e) => e.ipVersion === version && e.remotePort === 0));
        assert.ok(udp.some((e) => e.ipVersion === version && e.remotePort !== 0));
      }
      assert.equal(fromProc.malformedLines, 0);

      assert.deepEqual(sorted(fromNetlink), sorted(fromProc.sockets));
      // A second read reuses unchanged entries and still agrees.
      assert.deepEqual(
        sorted((await tables.read(child.pid, netns)) ?? []),
        sorted(fromProc.sockets),
      );

      // The scan's state filter leaves out exactly the sockets no file refers to.
      const ownedEntries = await owned.read(child.pid, netns);
      assert.ok(ownedEntries !== undefined);
      const skippedStates = ALL_TCP_STATES & ~OWNED_TCP_STATES;
      assert.deepEqual(
        sorted(ownedEntries),
        sorted(
          fromProc.sockets.filter(
            (e) => e.protocol !== 6 || ((1 << e.state) & skippedStates) === 0,
          ),
        ),
      );
      assert.ok(
        fromProc.sockets.every(
          (e) => e.protocol !== 6 || ((1 << e.state) & skippedStates) === 0 || e.inode === 0,
        ),
      );

      // Same owners whichever reader the scanner uses: every socket with an inode is the child's
      // (loopback ones left out: the lookup only gives loopback to the capture's namespace).
      const owners = async (useNetlink: boolean): Promise<string[]> => {
        let sender: string | undefined;
        const attributor = new Attributor({
          localAddresses: new Set<string>(),
          syncIntervalMs: 3_600_000,
          onResolved: (_flow, _counters, a) => {
            sender =
              a.sender === undefined ? 'none' : `${a.sender.process.pid}/${a.sender.socketInode}`;
          },
          ...(useNetlink ? { socketTables: owned } : {}),
        });
        await attributor.scanNow();
        const found: string[] = [];
        for (const e of fromProc.sockets) {
          if (e.inode === 0 || e.localAddress.startsWith('127.')) continue;
          const local =
            e.localAddress === '0.0.0.0'
              ? net.b.ipv4
              : e.localAddress === '::'
                ? net.b.ipv6!
                : e.localAddress;
          const isConnected = e.remotePort !== 0;
          const flow: FlowTuple = {
            key: key(e),
            ipVersion: local.includes(':') ? 6 : 4,
            protocol: e.protocol,
            srcAddress: local,
            srcPort: e.localPort,
            dstAddress: isConnected
              ? e.remoteAddress
              : local.includes(':')
                ? 'fd42:6e66::ff:1'
                : '198.18.0.250',
            dstPort: isConnected ? e.remotePort : 9,
          };
          sender = undefined;
          attributor.ingest(flow, ONE_PACKET);
          if (sender === undefined) attributor.flush();
          found.push(`${key(e)} -> ${sender ?? 'unresolved'}`);
          assert.equal(sender, `${child.pid}/${e.inode}`, `${key(e)} (netlink: ${useNetlink})`);
        }
        if (useNetlink) assert.ok(attributor.stats().scans.netlinkNamespaces > 0);
        else assert.equal(attributor.stats().scans.netlinkNamespaces, 0);
        attributor.stop();
        return found.sort();
      };
      const viaProc = await owners(false);
      assert.ok(viaProc.length > 20, `${viaProc.length} sockets checked`);
      assert.deepEqual(await owners(true), viaProc);
    } finally {
      tables.close();
      owned.close();
      await net.destroy();
    }
  },
);
