// The scan cycle alone, on a fake scanner and a fake clock: what runs after each scan, failed
// scans, and periodic scans skipped on a quiet host.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../clock.js';
import { ScanCycle } from './scan-cycle.js';
import type { CycleScanner, ScanCycleOptions } from './scan-cycle.js';
import { SocketIndex } from './socket-index.js';
import type { ScanResult } from './socket-scanner.js';

function scanResult(sockets: number): ScanResult {
  return {
    index: SocketIndex.empty(new Set()),
    alive: new Set(['1:1']),
    processes: 1,
    namespaces: 1,
    sockets,
    skippedProcesses: 0,
    deniedProcesses: 0,
    droppedProcesses: 0,
    fdDirsRead: 0,
    malformedLines: 0,
    netlinkNamespaces: 0,
    ownerCorrections: 0,
    isUnchanged: false,
    ownersFromKernel: false,
    maxBlockMs: 0,
    maxBlockCpuMs: 0,
  };
}

/** A scanner that answers `sockets` scans in turn (an Error: that scan fails). */
function fakeScanner(answers: (number | Error)[]): CycleScanner & {
  reuse: boolean[];
  quiet: boolean;
} {
  const scanner = {
    reuse: [] as boolean[],
    quiet: true,
    scan(mayReuseTables: boolean): Promise<ScanResult> {
      scanner.reuse.push(mayReuseTables);
      const answer = answers.shift() ?? 1;
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(scanResult(answer));
    },
    isQuiet: () => scanner.quiet,
  };
  return scanner;
}

function cycleOn(
  scanner: CycleScanner,
  clock: FakeClock,
  more: Partial<ScanCycleOptions> = {},
): { cycle: ScanCycle; log: string[] } {
  const log: string[] = [];
  const cycle = new ScanCycle({
    scanner,
    clock,
    yieldToEventLoop: () => Promise.resolve(),
    cpuMs: () => 0,
    logger: { warn: (m) => log.push(`warn ${m}`) },
    syncIntervalMs: 1000,
    onDemandDebounceMs: 30,
    minOnDemandGapMs: 200,
    maxScanShare: 1,
    parkedFlows: () => 0,
    receivedEvents: () => 0,
    onScanned: (result) => log.push(`scanned ${result.sockets}`),
    afterScan: (seq) => log.push(`after ${seq}`),
    ...more,
  });
  return { cycle, log };
}

test('each scan hands its result on, then the work after it; a failed scan only the latter', async () => {
  const clock = new FakeClock();
  const scanner = fakeScanner([5, new Error('EACCES'), 7]);
  const { cycle, log } = cycleOn(scanner, clock);
  await cycle.start();
  await cycle.scanNow();
  await cycle.scanNow();
  assert.deepEqual(log.slice(0, 2), ['scanned 5', 'after 1']);
  assert.match(log[2] ?? '', /^warn socket scan of \/proc failed \(EACCES\)/);
  assert.deepEqual(log.slice(3), ['after 2', 'scanned 7', 'after 3']);
  const stats = cycle.stats(4);
  assert.deepEqual([stats.count, stats.failed, stats.sockets, stats.callbackErrors], [3, 1, 7, 4]);
  cycle.stop();
});

test('a quiet host skips periodic scans up to the gap; a lookup wakes them', async () => {
  const clock = new FakeClock();
  const scanner = fakeScanner([]);
  const { cycle } = cycleOn(scanner, clock);
  await cycle.start();
  cycle.enableQuietScans(5000);
  clock.advance(1000);
  await cycle.whenIdle();
  assert.equal(cycle.stats(0).count, 1);
  assert.equal(cycle.stats(0).skippedQuiet, 1);
  cycle.noteLookup();
  clock.advance(1000);
  await cycle.whenIdle();
  assert.equal(cycle.stats(0).count, 2);
  // A lookup since the last scan asks for fresh tables; a quiet host may keep them.
  assert.deepEqual(scanner.reuse, [true, false]);
  cycle.stop();
});

test('stopped: no scan runs and nothing after one', async () => {
  const clock = new FakeClock();
  const { cycle, log } = cycleOn(fakeScanner([]), clock);
  cycle.stop();
  await cycle.start();
  await cycle.scanNow();
  assert.deepEqual(log, []);
  assert.equal(cycle.stats(0).count, 0);
});
