// The attributor's scans (scan-cycle.ts, scan-scheduler.ts) through the attributor, on a fake
// /proc and a fake clock: on-demand rate limits, costly scans spaced out, failed scans and
// callbacks, and quiet hosts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ipv4TableLine as line } from '../../test/helpers/fake-procfs.js';
import { advance, counters, flow, hostFs, setup } from '../../test/helpers/attributor-fixture.js';
import { FakeClock } from '../clock.js';
import { Attributor } from './attributor.js';
import { TcpState } from './net-table.js';

const TCP = 6;
const UDP = 17;

test('on-demand scans are debounced and rate limited under a flood of unknown flows', async () => {
  const procFs = hostFs('');
  const { attributor, clock, resolved } = setup(procFs, ['198.18.0.1'], {
    syncIntervalMs: 60_000,
    minOnDemandGapMs: 200,
    onDemandDebounceMs: 30,
  });
  await attributor.start();
  // A port scan: a new unknown flow every 10 ms for one second.
  for (let i = 0; i < 100; i++) {
    attributor.ingest(flow(TCP, '198.18.0.9:40000', `198.18.0.1:${1 + i}`), counters());
    clock.advance(10);
    await attributor.whenIdle();
  }
  const stats = attributor.stats();
  assert.ok(stats.scans.onDemand <= 1000 / 200 + 1, `${stats.scans.onDemand} on-demand scans`);
  assert.ok(stats.scans.onDemand >= 3, `${stats.scans.onDemand} on-demand scans`);
  assert.ok(stats.scans.rateLimited > 0);
  attributor.stop();
  assert.equal(resolved.length, 100, 'every flow is reported once');
});

test('costly scans are spaced out to stay under maxScanShare of the time', async () => {
  const procFs = hostFs('');
  const fake = new FakeClock();
  let scanCostMs = 0;
  // Each scan "takes" 300 ms of monotonic time: the clock the attributor sees runs ahead.
  const clock = {
    now: () => fake.now(),
    monotonicMs: () => fake.monotonicMs() + scanCostMs,
    setTimeout: fake.setTimeout.bind(fake),
    setInterval: fake.setInterval.bind(fake),
  };
  procFs.onCall = (op, path) => {
    if (op === 'readdir' && path === '/proc') scanCostMs += 300;
  };
  const attributor = new Attributor({
    procFs,
    clock,
    localAddresses: new Set(['198.18.0.1']),
    onResolved: () => undefined,
    maxScanShare: 0.1,
  });
  await attributor.start();
  for (let t = 0; t < 10_000; t += 100) {
    fake.advance(100);
    await attributor.whenIdle();
  }
  const stats = attributor.stats().scans;
  // 300 ms scans at most 10% of the time: one every 3 s, not one per second.
  assert.ok(stats.count <= 5, `${stats.count} scans`);
  assert.ok(stats.count >= 3, `${stats.count} scans`);
  assert.ok(stats.skippedPeriodic >= 5);
  assert.equal(stats.medianDurationMs, 300);
  attributor.stop();
});

test('a scan that cannot list /proc is logged and counted; the old tables stay', async () => {
  const procFs = hostFs('', line(0, '0.0.0.0:53', '0.0.0.0:0', 7, 2000));
  procFs.addProcess({ pid: 95, comm: 'dns', sockets: [2000] });
  const warnings: string[] = [];
  const { attributor, clock, resolved } = setup(procFs, ['198.18.0.1'], {
    logger: { warn: (message) => warnings.push(message) },
  });
  await attributor.start();
  procFs.fail('/proc', 'EACCES');
  await advance(clock, attributor, 1000);
  assert.equal(attributor.stats().scans.failed, 1);
  assert.match(
    warnings[0] ?? '',
    /socket scan of \/proc failed \(EACCES.*check that \/proc is mounted/,
  );
  attributor.ingest(flow(UDP, '198.18.0.9:1', '198.18.0.1:53'), counters());
  assert.equal(resolved[0]?.attribution.receiver?.process.comm, 'dns');
  attributor.stop();
});

test('an exception in onResolved after a scan is logged and counted, not thrown', async () => {
  const procFs = hostFs('');
  const warnings: string[] = [];
  const clock = new FakeClock();
  const attributor = new Attributor({
    procFs,
    clock,
    localAddresses: new Set(['198.18.0.1']),
    logger: { warn: (message) => warnings.push(message) },
    onResolved: () => {
      throw new Error('handler bug');
    },
  });
  await attributor.start();
  attributor.ingest(flow(UDP, '198.18.0.9:1', '198.18.0.1:9'), counters());
  await advance(clock, attributor, 2000);
  assert.equal(attributor.stats().scans.callbackErrors, 1);
  assert.match(warnings[0] ?? '', /handler bug.*fix the onResolved\/onScan handler/);
  attributor.stop();
});

test('quiet scans: periodic scans wait while nothing changed, and wake on a new socket, a flow or an event', async () => {
  const procFs = hostFs(line(0, '198.18.0.1:80', '0.0.0.0:0', TcpState.listen, 3400));
  procFs.addProcess({ pid: 76, comm: 'server', sockets: [3400] });
  const sockstat = (tcp: number): string =>
    `TCP: inuse ${tcp} orphan 0 tw 0 alloc 1 mem 0\nUDP: inuse 0 mem 0\n`;
  const snmp = (opens: number): string =>
    `Tcp: RtoAlgorithm ActiveOpens PassiveOpens\nTcp: 1 ${opens} 0\n`;
  procFs.setFile('/proc/1/net/sockstat', sockstat(1));
  procFs.setFile('/proc/1/net/snmp', snmp(5));
  const { attributor, clock, resolved } = setup(procFs, ['198.18.0.1']);
  attributor.enableQuietScans(10_000);
  await attributor.start();
  await advance(clock, attributor, 3500);
  assert.equal(attributor.stats().scans.count, 1, 'nothing changed: no periodic scan');
  assert.equal(attributor.stats().scans.skippedQuiet, 3);

  // A new socket: the counters move, the next periodic scan runs and finds its owner.
  procFs.setFile(
    '/proc/1/net/tcp',
    procFs.readText('/proc/1/net/tcp') +
      line(1, '198.18.0.1:81', '198.18.0.9:5000', TcpState.established, 3401),
  );
  procFs.addSocket(76, 3401);
  procFs.setFile('/proc/1/net/sockstat', sockstat(2));
  await advance(clock, attributor, 1000);
  assert.equal(attributor.stats().scans.count, 2, 'socket counters moved: scanned');
  attributor.ingest(flow(TCP, '198.18.0.9:5000', '198.18.0.1:81'), counters());
  assert.equal(
    resolved.at(-1)?.attribution.receiver?.process.pid,
    76,
    'the new connection is known',
  );

  // A flow looked up since the last scan keeps the next periodic scan.
  await advance(clock, attributor, 1000);
  assert.equal(attributor.stats().scans.count, 3, 'a flow was looked up: scanned');
  await advance(clock, attributor, 2000);
  assert.equal(attributor.stats().scans.count, 3, 'quiet again');

  // A socket event wakes the scans too.
  attributor.recordConnects([
    {
      pid: 76,
      comm: 'server',
      protocol: TCP,
      localAddress: '198.18.0.1',
      localPort: 40000,
      remoteAddress: '198.18.0.9',
      remotePort: 80,
    },
  ]);
  await advance(clock, attributor, 1000);
  assert.equal(attributor.stats().scans.count, 4, 'a socket event arrived: scanned');

  // An owner that exits: the /proc listing shows it gone.
  await advance(clock, attributor, 2000);
  const quietCount = attributor.stats().scans.count;
  procFs.remove('/proc/76');
  await advance(clock, attributor, 1000);
  assert.equal(attributor.stats().scans.count, quietCount + 1, 'an owner exited: scanned');

  // And at least every maxGapMs.
  const before = attributor.stats().scans.count;
  await advance(clock, attributor, 10_000);
  assert.equal(attributor.stats().scans.count, before + 1, 'the consistency scan');
  attributor.stop();
});

test('quiet scans are off until enabled, and a bad gap is a UsageError', async () => {
  const procFs = hostFs('');
  procFs.setFile('/proc/1/net/sockstat', 'TCP: inuse 0\n');
  procFs.setFile('/proc/1/net/snmp', 'Tcp: ActiveOpens PassiveOpens\nTcp: 1 1\n');
  const { attributor, clock } = setup(procFs, []);
  await attributor.start();
  await advance(clock, attributor, 3000);
  assert.equal(attributor.stats().scans.count, 4);
  assert.equal(attributor.stats().scans.skippedQuiet, 0);
  assert.throws(() => attributor.enableQuietScans(-1), {
    name: 'UsageError',
    message: /quietScanIntervalMs must be a number >= 0, got -1/,
  });
  attributor.stop();
});

test('a quiet scan keeps tables whose socket counters did not move; a parked flow gets fresh ones', async () => {
  const procFs = hostFs(line(0, '198.18.0.1:80', '0.0.0.0:0', TcpState.listen, 3400));
  procFs.addProcess({ pid: 76, comm: 'server', sockets: [3400] });
  procFs.setFile('/proc/1/net/sockstat', 'TCP: inuse 1 orphan 0 tw 0 alloc 1 mem 0\n');
  procFs.setFile('/proc/1/net/snmp', 'Tcp: ActiveOpens PassiveOpens\nTcp: 5 0\n');
  const { attributor, resolved } = setup(procFs, ['198.18.0.1']);
  await attributor.scanNow();
  // A connection the counters do not show (as if a close and an open cancelled out).
  procFs.setFile(
    '/proc/1/net/tcp',
    procFs.readText('/proc/1/net/tcp') +
      line(1, '198.18.0.1:81', '198.18.0.9:5000', TcpState.established, 3401),
  );
  procFs.addSocket(76, 3401);
  await attributor.scanNow();
  assert.equal(attributor.stats().scans.unchanged, 1, 'tables kept: nothing looked up or parked');
  attributor.ingest(flow(TCP, '198.18.0.9:5000', '198.18.0.1:81'), counters());
  assert.equal(attributor.stats().retry.pendingFlows, 1, 'not in the kept tables: parked');
  await attributor.scanNow();
  assert.equal(attributor.stats().retry.pendingFlows, 0);
  assert.equal(resolved.at(-1)?.attribution.receiver?.process.pid, 76, 'the fresh read found it');
  attributor.stop();
});
