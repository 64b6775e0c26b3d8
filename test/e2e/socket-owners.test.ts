// Differential test of the socket owner sources: the kernel's BPF task_file iterator
// (KernelSocketOwners) and walking /proc/<pid>/fd must name the same holders for every socket of
// a live namespace where sockets are shared after fork (pre-fork listener), duplicated inside a
// process, passed with SCM_RIGHTS (sender closes its copy), held by threads, and in every common
// state; and the attributor must give every flow the same owner whichever source it scans with.

import assert from 'node:assert/strict';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { loadAddon } from '../../src/capture/addon.js';
import { Attributor } from '../../src/attribute/attributor.js';
import { KernelSocketOwners, hasSocketOwners } from '../../src/attribute/kernel-owners.js';
import { NodeProcFs } from '../../src/attribute/procfs.js';
import { parseNamespaceLink } from '../../src/attribute/process-info.js';
import { readSocketInodes } from '../../src/attribute/socket-owners.js';
import { SockDiagTables } from '../../src/attribute/sock-diag.js';
import type { FlowCounters, FlowTuple } from '../../src/attribute/types.js';
import { canCreateTestNets, createTestNet } from '../helpers/netns.js';

const TIME_LIMIT_MS = 60_000;
const CHILD_LIFETIME_S = 50;

// A small server host in one namespace. Prints one JSON line once everything is in place:
// {"pids": [...every process...], "passed": inode of the SCM_RIGHTS socket, "receiver": pid}.
const CHILD = `
import os, socket, sys, json, signal, threading, time, array
signal.alarm(${CHILD_LIFETIME_S})
v4, v6 = sys.argv[1], sys.argv[2]
keep = []
# pre-fork: one listener, three workers share it; each worker accepts one connection
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind((v4, 0)); l.listen(16)
port = l.getsockname()[1]
ready_r, ready_w = os.pipe()
workers = []
for i in range(3):
    pid = os.fork()
    if pid == 0:
        signal.alarm(${CHILD_LIFETIME_S})  # alarms are not inherited across fork
        a, _ = l.accept(); keep.append(a)
        os.write(ready_w, b'w'); signal.pause(); os._exit(0)
    workers.append(pid)
clients = []
for i in range(3):
    c = socket.create_connection((v4, port)); clients.append(c)
for i in range(3): os.read(ready_r, 1)
# SCM_RIGHTS: a sender process makes a UDP socket, passes it to the receiver (this process) and
# closes its copy: only the receiver holds it
pa, pb = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
sender = os.fork()
if sender == 0:
    signal.alarm(${CHILD_LIFETIME_S})
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((v4, 0))
    pa.sendmsg([b'x'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [u.fileno()]))])
    u.close(); signal.pause(); os._exit(0)
msg, anc, _, _ = pb.recvmsg(1, socket.CMSG_LEN(4))
fd = array.array('i', anc[0][2])[0]
got = socket.socket(fileno=fd); keep.append(got)
passed = os.fstat(fd).st_ino
# dup in one process, IPv6, connected UDP, a thread holding a socket of its own
d = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); d.bind((v6, 0)); keep.append(d); keep.append(d.dup())
t6 = socket.socket(socket.AF_INET6); t6.bind((v6, 0)); t6.listen(4); keep.append(t6)
def hold():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((v4, 0)); s.connect((v4, 9)); keep.append(s)
    time.sleep(${CHILD_LIFETIME_S})
threading.Thread(target=hold, daemon=True).start()
time.sleep(0.3)
print(json.dumps({'pids': [os.getpid()] + workers + [sender], 'passed': passed, 'receiver': os.getpid()}), flush=True)
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

test(
  'the kernel iterator and /proc/<pid>/fd walks name the same holders; the attributor the same owners',
  {
    timeout: TIME_LIMIT_MS,
    skip: canCreateTestNets() ? false : '[needs-root] needs root to create network namespaces',
  },
  async () => {
    const addon = loadAddon();
    assert.ok(
      hasSocketOwners(addon),
      'the addon has no socket-owners iterator: install libbpf-dev and clang, npm run build:native',
    );
    const net = await createTestNet({ prefix: 'pfo', v6: true });
    const kernel = new KernelSocketOwners(addon);
    const tables = new SockDiagTables(addon);
    let started: number[] = [];
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
      const host = JSON.parse(line) as { pids: number[]; passed: number; receiver: number };
      started = host.pids;
      assert.equal(host.pids.length, 5);
      const procFs = new NodeProcFs('/');
      const netns = parseNamespaceLink(procFs.readlink(`/proc/${child.pid}/ns/net`));

      // Holders from /proc, for the processes of the namespace.
      const fromProc = new Map<number, number[]>();
      for (const pid of host.pids) {
        const result = readSocketInodes(procFs, pid);
        assert.equal(result.status, 'ok', `fd walk of ${pid}`);
        if (result.status !== 'ok') continue;
        for (const inode of new Set(result.inodes)) {
          fromProc.set(
            inode,
            [...(fromProc.get(inode) ?? []), pid].sort((a, b) => a - b),
          );
        }
      }
      const holders = await kernel.read();
      assert.ok(holders !== undefined, `iterator refused: ${kernel.stats().lastError}`);
      assert.ok(fromProc.size >= 12, `${fromProc.size} sockets in the namespace`);
      // (The kernel also names holders outside the namespace: the test runner holds the child's
      // stdout, a Unix socket pair, so only the namespace's processes are compared.)
      const inHost = (held: number | readonly number[] | undefined): number[] =>
        (held === undefined ? [] : typeof held === 'number' ? [held] : [...held]).filter((pid) =>
          host.pids.includes(pid),
        );
      for (const [inode, pids] of fromProc) {
        assert.deepEqual(inHost(holders.of(inode)), pids, `holders of socket ${inode}`);
      }
      // The cases the child built are there: a listener shared by the parent and 3 workers, and
      // the passed socket held by the receiver only (its sender closed its copy).
      assert.ok(
        [...fromProc.values()].some((pids) => pids.length >= 4),
        'the pre-fork listener is shared',
      );
      assert.equal(holders.of(host.passed), host.receiver);
      assert.equal((await kernel.read())?.isSame, true, 'nothing changed: same bytes');

      // The attributor owns every socket of the namespace's tables the same way either way.
      const sockets = await tables.read(child.pid, netns);
      assert.ok(sockets !== undefined, `sock_diag refused: ${tables.stats().lastError}`);
      const owners = async (withKernel: boolean): Promise<string[]> => {
        let sender: string | undefined;
        const attributor = new Attributor({
          localAddresses: new Set<string>(),
          syncIntervalMs: 3_600_000,
          socketTables: tables,
          ...(withKernel ? { socketOwners: kernel } : {}),
          onResolved: (_flow, _counters, a) => {
            sender =
              a.sender === undefined ? 'none' : `${a.sender.process.pid}/${a.sender.socketInode}`;
          },
        });
        await attributor.scanNow();
        assert.equal(attributor.stats().scans.ownersFromKernel, withKernel);
        if (withKernel) assert.equal(attributor.stats().scans.fdDirsRead, 0);
        const found: string[] = [];
        for (const e of sockets) {
          if (e.inode === 0 || e.localAddress === '0.0.0.0' || e.localAddress === '::') continue;
          // A listener several processes hold names no one process (which worker accepts is
          // up to the kernel): its connections are what the workers' traffic comes from.
          if (e.protocol === 6 && e.remotePort === 0 && (fromProc.get(e.inode)?.length ?? 0) > 1) {
            continue;
          }
          const isConnected = e.remotePort !== 0;
          const flow: FlowTuple = {
            key: `${e.protocol}|${e.localAddress}|${e.localPort}|${e.remoteAddress}|${e.remotePort}`,
            ipVersion: e.ipVersion,
            protocol: e.protocol,
            srcAddress: e.localAddress,
            srcPort: e.localPort,
            dstAddress: isConnected
              ? e.remoteAddress
              : e.ipVersion === 6
                ? 'fd42:6e66::ff:1'
                : '198.18.0.250',
            dstPort: isConnected ? e.remotePort : 9,
          };
          sender = undefined;
          attributor.ingest(flow, ONE_PACKET);
          if (sender === undefined) attributor.flush();
          const pid = Number((sender ?? 'unresolved/0').split('/')[0]);
          assert.ok(
            fromProc.get(e.inode)?.includes(pid) === true,
            `${flow.key} (kernel: ${withKernel}): ${sender} does not hold ${e.inode}`,
          );
          found.push(`${flow.key} -> ${sender}`);
        }
        attributor.stop();
        return found.sort();
      };
      const viaProc = await owners(false);
      assert.ok(viaProc.length >= 10, `${viaProc.length} sockets checked`);
      assert.deepEqual(await owners(true), viaProc);
    } finally {
      // The workers and the sender hold the child's stdout: end every process the child started.
      for (const pid of started) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      kernel.close();
      tables.close();
      await net.destroy();
    }
  },
);
