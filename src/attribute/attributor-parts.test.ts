// The attributor's parts alone: scan scheduling, event intake, peer inference, flow cache.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { FakeClock } from '../clock.js';
import { FlowCache } from './flow-cache.js';
import { flowKey } from './flow-key.js';
import { PeerInference } from './peer-inference.js';
import { placeholderProcess } from './process-info.js';
import { ScanScheduler } from './scan-scheduler.js';
import { SocketEventIntake } from './socket-event-intake.js';
import type { FlowTuple, Owner, ProcessInfo } from './types.js';

function owner(pid: number, comm = `p${pid}`): Owner {
  return { process: placeholderProcess(`${pid}:1`, pid, comm), socketInode: 0 };
}

function tuple(src: string, sport: number, dst: string, dport: number): FlowTuple {
  return {
    key: flowKey(6, src, sport, dst, dport),
    ipVersion: 4,
    protocol: 6,
    srcAddress: src,
    srcPort: sport,
    dstAddress: dst,
    dstPort: dport,
  };
}

const counters = {
  packets: 1,
  bytes: 100,
  payloadBytes: 60,
  wireBytes: 114,
  firstMs: 0,
  lastMs: 0,
  tcpFlags: 0,
};

test('scan scheduler: one scan at start, periodic scans, debounced on-demand scans', async () => {
  const clock = new FakeClock();
  const seqs: number[] = [];
  const scheduler = new ScanScheduler({
    clock,
    runScan: (seq) => {
      seqs.push(seq);
      return Promise.resolve();
    },
    hasPendingWork: () => false,
    syncIntervalMs: 1000,
    onDemandDebounceMs: 30,
    minOnDemandGapMs: 200,
    maxScanShare: 1,
  });
  await scheduler.start();
  assert.deepEqual(seqs, [1]);
  scheduler.requestOnDemand();
  scheduler.requestOnDemand(); // gathered into the same scan
  clock.advance(29);
  assert.deepEqual(seqs, [1]);
  clock.advance(1);
  await scheduler.whenIdle();
  assert.deepEqual(seqs, [1, 2]);
  scheduler.requestOnDemand(); // 200 ms gap: waits until 230 ms
  clock.advance(100);
  assert.equal(seqs.length, 2);
  clock.advance(100);
  await scheduler.whenIdle();
  assert.equal(seqs.length, 3);
  assert.equal(scheduler.stats().onDemand, 2);
  assert.equal(scheduler.stats().rateLimited, 1);
  clock.advance(1000);
  await scheduler.whenIdle();
  assert.equal(seqs.length, 4);
  scheduler.stop();
  clock.advance(5000);
  assert.equal(seqs.length, 4);
});

test('scan scheduler: scans that cost much are spread to keep within maxScanShare', async () => {
  const clock = new FakeClock();
  let scans = 0;
  const scheduler = new ScanScheduler({
    clock,
    runScan: () => {
      scans++;
      scheduler.recordDuration(500); // 500 ms scans, at most half the time: 1 s apart
      return Promise.resolve();
    },
    hasPendingWork: () => false,
    syncIntervalMs: 100,
    onDemandDebounceMs: 0,
    minOnDemandGapMs: 0,
    maxScanShare: 0.5,
  });
  await scheduler.start();
  clock.advance(1000);
  assert.ok(scans <= 2, `scans ${scans}`);
  assert.ok(scheduler.stats().skippedPeriodic >= 8);
  assert.equal(scheduler.stats().medianDurationMs, 500);
  scheduler.stop();
});

test('event intake: connect events name the owner of their 4-tuple until their TTL', () => {
  const live = new Map<number, ProcessInfo>([[40, owner(40, 'curl').process]]);
  const intake = new SocketEventIntake({
    processes: { processByKnownPid: () => undefined, processByPid: (pid) => live.get(pid) },
    ttlMs: 1000,
  });
  const event = {
    pid: 40,
    comm: 'curl',
    protocol: 6,
    localAddress: '198.18.0.1',
    localPort: 40000,
    remoteAddress: '198.18.0.2',
    remotePort: 80,
  };
  intake.record([event, { ...event, pid: 41, comm: 'gone', localPort: 40001 }], 0);
  assert.equal(intake.connectOwner(6, '198.18.0.1', 40000, '198.18.0.2', 80, 10)?.process.pid, 40);
  // An exited process is still named, from the event's pid and comm.
  const exited = intake.connectOwner(6, '198.18.0.1', 40001, '198.18.0.2', 80, 10);
  assert.equal(exited?.process.key, '41:0');
  assert.equal(exited?.process.comm, 'gone');
  assert.equal(intake.connectOwner(6, '198.18.0.1', 40000, '198.18.0.2', 80, 2000), undefined);
  const stats = intake.stats();
  assert.equal(stats.received, 2);
  assert.equal(stats.used, 2);
  assert.equal(stats.exitedOwners, 1);
});

test('event intake: a UDP send event is dropped when a later table shows another owner', () => {
  const intake = new SocketEventIntake({
    processes: {
      processByKnownPid: (pid) => owner(pid).process,
      processByPid: () => undefined,
    },
  });
  intake.record(
    [
      {
        pid: 7,
        comm: 'dig',
        protocol: 17,
        localAddress: '0.0.0.0',
        localPort: 5353,
        remoteAddress: '198.18.0.2',
        remotePort: 53,
      },
    ],
    0,
  );
  assert.equal(intake.udpOwner(17, '198.18.0.1', 5353, 1)?.process.pid, 7);
  const generation = intake.udpGeneration;
  intake.dropContradictedUdpSends({ udpPortOwners: () => [{ address: '198.18.0.1', pid: 8 }] }, 10);
  assert.equal(intake.udpOwner(17, '198.18.0.1', 5353, 11), undefined);
  assert.notEqual(intake.udpGeneration, generation);
  assert.equal(intake.stats().udpContradicted, 1);
});

test('peer inference: a gone client socket goes to the one process that used the same peer', () => {
  const peers = new PeerInference({
    limit: 16,
    ttlMs: 1000,
    ephemeralPorts: [32768, 60999],
    isAlive: () => true,
  });
  const noSockets = { hasSocket: () => false };
  const unknown = { sender: undefined, receiver: undefined, srcIsLocal: true, dstIsLocal: false };
  peers.learn(tuple('198.18.0.1', 40000, '198.18.0.2', 80), { ...unknown, sender: owner(5) }, 0);
  const inferred = peers.infer(
    tuple('198.18.0.1', 40001, '198.18.0.2', 80),
    counters,
    unknown,
    noSockets,
    10,
  );
  assert.equal(inferred.sender?.process.pid, 5);
  // A second process on the same pair: no answer rather than a guess.
  peers.learn(tuple('198.18.0.1', 40002, '198.18.0.2', 80), { ...unknown, sender: owner(6) }, 20);
  const ambiguous = peers.infer(
    tuple('198.18.0.1', 40003, '198.18.0.2', 80),
    counters,
    unknown,
    noSockets,
    30,
  );
  assert.equal(ambiguous.sender, undefined);
  assert.deepEqual(peers.stats(), { inferredFlows: 1, inferredPackets: 1 });
});

test('flow cache: bounded, forgets idle and closed flows', () => {
  const cache = new FlowCache({ limit: 2, idleMs: 1000, closedGraceMs: 100 });
  const entry = (lastSeenMs: number, closedAtMs = -1): Parameters<FlowCache['set']>[1] => ({
    sender: undefined,
    receiver: undefined,
    srcIsLocal: true,
    dstIsLocal: false,
    isComplete: true,
    scanGen: 0,
    lastSeenMs,
    closedAtMs,
    udpGen: -1,
  });
  cache.set('a', entry(0));
  cache.set('b', entry(0, 0));
  cache.set('c', entry(500));
  assert.equal(cache.get('a'), undefined);
  assert.equal(cache.stats().evicted, 1);
  cache.sweep(200); // b closed 200 ms ago
  assert.equal(cache.get('b'), undefined);
  assert.ok(cache.get('c') !== undefined);
  cache.sweep(1600); // c idle for 1100 ms
  assert.equal(cache.size, 0);
  assert.equal(cache.stats().expired, 2);
});
