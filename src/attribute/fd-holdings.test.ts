// Incremental scans against a changing fake host: sockets opened, closed, handed over (with and
// without the fd count moving), shared after fork, processes renamed, exiting, pids reused. The
// scanner reads few fd directories, yet every socket's owner is a process that holds it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeProcFs, ipv4TableLine } from '../../test/helpers/fake-procfs.js';
import { TcpState } from './net-table.js';
import { SocketScanner } from './socket-scanner.js';
import type { ScanResult } from './socket-scanner.js';
import type { SocketEntry } from './net-table.js';
import type { SocketTableReader, SockDiagStats } from './sock-diag.js';
import type { SocketHolders, SocketOwnerSource } from './kernel-owners.js';

const HOST_NS = 4026531840;
const TCP_HEADER =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
const GROUPS = 10;

interface ModelProcess {
  comm: string;
  startTime: number;
  sockets: number[];
}

/** A host as data; `apply` writes it into the FakeProcFs. */
class Model {
  readonly processes = new Map<number, ModelProcess>();
  private nextInode = 5000;
  private nextStart = 100;

  constructor(readonly fs: FakeProcFs) {}

  spawn(pid: number, comm: string, sockets: number[] = []): void {
    this.processes.set(pid, { comm, startTime: this.nextStart++, sockets });
    this.write(pid);
  }

  newInode(): number {
    return this.nextInode++;
  }

  write(pid: number): void {
    this.fs.remove(`/proc/${pid}`);
    const p = this.processes.get(pid);
    if (p === undefined) return;
    this.fs.addProcess({ pid, comm: p.comm, startTime: p.startTime, sockets: p.sockets });
  }

  /** Socket inode -> pids holding it. */
  holders(): Map<number, Set<number>> {
    const map = new Map<number, Set<number>>();
    for (const [pid, p] of this.processes) {
      for (const inode of p.sockets) {
        const set = map.get(inode) ?? new Set<number>();
        set.add(pid);
        map.set(inode, set);
      }
    }
    return map;
  }

  /** Every held socket as a listener on 198.18.0.1, port = inode. */
  tables(): string {
    return [...this.holders().keys()]
      .map((inode, i) =>
        ipv4TableLine(i, `198.18.0.1:${inode}`, '0.0.0.0:0', TcpState.listen, inode),
      )
      .join('');
  }
}

/** Deterministic PRNG (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function ownerOf(result: ScanResult, inode: number): { pid: number; comm: string } | undefined {
  const owner = result.index.findOwner(6, '198.18.0.1', inode, '198.18.0.9', 1);
  return owner === undefined ? undefined : { pid: owner.process.pid, comm: owner.process.comm };
}

/**
 * A kernel owner list (what the BPF iterator gives) computed from the model when read: every
 * holder of every socket, lowest pid first. `reads` counts the reads.
 */
function modelOwners(model: Model): SocketOwnerSource & { reads: number } {
  let previous = '';
  const source = {
    reads: 0,
    isAvailable: () => true,
    read: (): Promise<SocketHolders> => {
      source.reads++;
      const holders = model.holders();
      const text = JSON.stringify([...holders].map(([i, p]) => [i, [...p].sort()]));
      const isSame = text === previous;
      previous = text;
      return Promise.resolve({
        of: (inode: number) => {
          const pids = holders.get(inode);
          if (pids === undefined) return undefined;
          const sorted = [...pids].sort((a, b) => a - b);
          return sorted.length === 1 ? sorted[0] : sorted;
        },
        isSame,
        records: holders.size,
      });
    },
    close: () => undefined,
    stats: () => ({ active: true, reads: source.reads, failures: 0, records: 0, lastError: '' }),
  };
  return source;
}

function setup(kernel = false): {
  model: Model;
  scan: () => Promise<ScanResult>;
  scanner: SocketScanner;
  owners: ReturnType<typeof modelOwners> | undefined;
} {
  const fs = new FakeProcFs();
  const model = new Model(fs);
  const owners = kernel ? modelOwners(model) : undefined;
  let nowMs = 0;
  const scanner = new SocketScanner({
    procFs: fs,
    localAddresses: new Set(['198.18.0.1']),
    monotonicMs: () => nowMs,
    yieldToEventLoop: () => Promise.resolve(),
    sliceMs: 1000,
    fullScanEvery: 1_000_000, // incremental scans only: nothing may rely on a full rescan
    maxProcesses: 10_000,
    hostNetns: HOST_NS,
    refreshGroups: GROUPS,
    socketOwners: owners,
  });
  model.spawn(1, 'init');
  const scan = async (): Promise<ScanResult> => {
    fs.setNetFiles(1, { tcp: model.tables() });
    nowMs += 1000;
    return scanner.scan();
  };
  return { model, scan, scanner, owners };
}

for (const kernel of [false, true]) {
  test(`incremental scans keep every owner right through random socket and process changes (owners from ${kernel ? 'the kernel' : 'fd walks'})`, async () => {
    const { model, scan, owners } = setup(kernel);
    const next = random(11);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
    for (let pid = 100; pid < 160; pid++) {
      model.spawn(pid, `p${pid}`, [model.newInode(), model.newInode()]);
    }
    await scan();
    let fdDirsRead = 0;
    let scans = 0;
    let nextPid = 1000;
    const kinds = new Map<string, number>();
    for (let step = 0; step < 300; step++) {
      const pids = [...model.processes.keys()].filter((pid) => pid !== 1);
      const p = pick(pids);
      const info = model.processes.get(p)!;
      const q = pick(pids.filter((x) => x !== p));
      const target = model.processes.get(q)!;
      const kind = pick([
        'open',
        'close',
        'handoff',
        'share',
        'swap',
        'rename',
        'exit',
        'spawn',
        'reuse',
      ] as const);
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      const opened: number[] = [];
      switch (kind) {
        case 'open':
          opened.push(model.newInode());
          info.sockets.push(opened[0]!);
          break;
        case 'close':
          info.sockets.pop();
          break;
        case 'handoff': // SCM_RIGHTS then close: both fd counts move
          if (info.sockets.length > 0) target.sockets.push(info.sockets.pop()!);
          model.write(q);
          break;
        case 'share': // fork-like: both hold it
          if (info.sockets.length > 0) target.sockets.push(info.sockets[0]!);
          model.write(q);
          break;
        case 'swap': // hand one over and open another: the sender's fd count does not move
          if (info.sockets.length > 0) target.sockets.push(info.sockets.shift()!);
          opened.push(model.newInode());
          info.sockets.push(opened[0]!);
          model.write(q);
          break;
        case 'rename': // prctl(PR_SET_NAME): same pid and start time, new comm
          info.comm = `${info.comm.slice(0, 8)}-r${step}`;
          break;
        case 'exit':
          model.processes.delete(p);
          break;
        case 'spawn':
          opened.push(model.newInode());
          model.spawn(nextPid++, `new${step}`, [...opened]);
          break;
        case 'reuse': // the pid exits and a new process gets it
          model.processes.delete(p);
          opened.push(model.newInode());
          model.spawn(p, `again${step}`, [...opened]);
          break;
      }
      model.write(p);

      // New sockets have their owner after one scan.
      let result = await scan();
      scans++;
      fdDirsRead += result.fdDirsRead;
      const holders = model.holders();
      for (const inode of opened) {
        if (!holders.has(inode)) continue;
        const owner = ownerOf(result, inode);
        assert.ok(
          owner !== undefined && holders.get(inode)!.has(owner.pid),
          `${kind} step ${step}: new socket ${inode}`,
        );
      }
      // Within one round of refresh groups, every socket is owned by a process that holds it,
      // under that process's current name.
      for (let i = 1; i < GROUPS; i++) {
        result = await scan();
        scans++;
        fdDirsRead += result.fdDirsRead;
      }
      for (const [inode, pids] of holders) {
        const owner = ownerOf(result, inode);
        assert.ok(owner !== undefined, `${kind} step ${step}: socket ${inode} has no owner`);
        assert.ok(
          pids.has(owner.pid),
          `${kind} step ${step}: socket ${inode} owned by ${owner.pid}, held by ${[...pids].join(',')}`,
        );
        assert.equal(
          owner.comm,
          model.processes.get(owner.pid)!.comm,
          `${kind} step ${step}: name`,
        );
      }
    }
    for (const [kind, count] of kinds) assert.ok(count > 10, `${kind} exercised ${count} times`);
    // The point: far fewer fd directories than a walk of every process every scan.
    const processes = model.processes.size;
    assert.ok(
      fdDirsRead < (scans * processes) / 10,
      `${fdDirsRead} fd dirs in ${scans} scans of ~${processes} processes`,
    );
    if (owners !== undefined) {
      // With the kernel's list: no fd directory at all, and the list read only when something
      // may have changed (a new socket, an fd count moved), not every scan.
      assert.equal(fdDirsRead, 0);
      assert.ok(owners.reads < scans / 2, `${owners.reads} kernel reads in ${scans} scans`);
      assert.ok(owners.reads > 100, `${owners.reads} kernel reads`);
    }
  });
}

test('an idle host keeps its index: no fd directory read, no new index', async () => {
  const { model, scanner } = setup();
  for (let pid = 100; pid < 130; pid++) model.spawn(pid, `p${pid}`, [model.newInode()]);
  const entries: SocketEntry[] = [...model.holders().keys()].map((inode) => ({
    protocol: 6,
    ipVersion: 4,
    localAddress: '198.18.0.1',
    localPort: inode,
    remoteAddress: '0.0.0.0',
    remotePort: 0,
    state: TcpState.listen,
    uid: 0,
    inode,
  }));
  // A table source that answers with the same array while nothing changes, as SockDiagTables does.
  const tables: SocketTableReader = {
    read: () => Promise.resolve(entries),
    prune: () => undefined,
    close: () => undefined,
    stats: (): SockDiagStats => ({
      dumps: 0,
      fallbacks: 0,
      openNamespaces: 1,
      droppedSockets: 0,
      lastError: '',
    }),
  };
  let nowMs = 0;
  const idle = new SocketScanner({
    procFs: model.fs,
    localAddresses: new Set(['198.18.0.1']),
    monotonicMs: () => (nowMs += 1000),
    yieldToEventLoop: () => Promise.resolve(),
    sliceMs: 1000,
    fullScanEvery: 1_000_000,
    maxProcesses: 10_000,
    hostNetns: HOST_NS,
    socketTables: tables,
  });
  void scanner;
  const first = await idle.scan();
  assert.equal(first.isUnchanged, false);
  assert.ok(ownerOf(first, entries[0]!.inode) !== undefined);
  let results: ScanResult[] = [];
  for (let i = 0; i < 40; i++) results.push(await idle.scan());
  // After the young-process window and one round of refresh groups, scans are no-ops.
  results = results.slice(-10);
  for (const r of results) {
    assert.equal(r.isUnchanged, true);
    assert.equal(r.fdDirsRead, 0);
    assert.equal(r.index, first.index);
  }
});

test('a socket opened after its process was walked in the same scan is still found', async () => {
  const { model, scan } = setup();
  for (let pid = 100; pid < 120; pid++) model.spawn(pid, `p${pid}`, [model.newInode()]);
  for (let i = 0; i < 15; i++) await scan(); // settled
  const pid = 103;
  const p = model.processes.get(pid)!;
  // Its fd count moves (a file opened), so its group's turn walks it before the tables are read.
  model.fs.setLink(`/proc/${pid}/fd/40`, '/dev/null');
  const late = model.newInode();
  let isWalked = false;
  let isAdded = false;
  model.fs.onCall = (op, path) => {
    if (op === 'readdir' && path === `/proc/${pid}/fd`) isWalked = true;
    // The socket appears between that walk and the table read of the same scan.
    if (op === 'readText' && path === '/proc/1/net/tcp' && isWalked && !isAdded) {
      isAdded = true;
      p.sockets.push(late);
      model.fs.addSocket(pid, late);
      model.fs.setFile(
        '/proc/1/net/tcp',
        model.fs.readText('/proc/1/net/tcp') +
          ipv4TableLine(99, `198.18.0.1:${late}`, '0.0.0.0:0', TcpState.listen, late),
      );
    }
  };
  let result: ScanResult | undefined;
  for (let i = 0; i < GROUPS && !isAdded; i++) result = await scan();
  model.fs.onCall = undefined;
  assert.ok(isAdded && result !== undefined);
  assert.equal(ownerOf(result, late)?.pid, pid);
});

test('a socket of a process that started after the scan listed /proc is owned by the next scan', async () => {
  const { model, scan } = setup();
  for (let pid = 100; pid < 110; pid++) model.spawn(pid, `p${pid}`, [model.newInode()]);
  for (let i = 0; i < 15; i++) await scan();
  const late = model.newInode();
  let isStarted = false;
  model.fs.onCall = (op, path) => {
    // The process starts and binds right after the listing, before the tables are read.
    if (op === 'readdir' && path === '/proc' && !isStarted) {
      isStarted = true;
      model.processes.set(500, { comm: 'late', startTime: 9999, sockets: [late] });
    }
    if (op === 'readText' && path === '/proc/1/net/tcp' && isStarted) {
      model.fs.onCall = undefined;
      model.write(500);
      model.fs.setFile('/proc/1/net/tcp', TCP_HEADER + model.tables());
    }
  };
  const first = await scan();
  assert.equal(ownerOf(first, late), undefined, 'not listed yet: no owner this scan');
  const second = await scan();
  assert.equal(ownerOf(second, late)?.pid, 500);
});
