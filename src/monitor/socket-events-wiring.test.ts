// createMonitor() with the kernel connect tracker replaced by a fake (MonitorDependencies
// .openSocketEvents): events reach the attributor, failures are warnings, stop() stops it.

import assert from 'node:assert/strict';
import test from 'node:test';
import type { SocketEvent, SocketEventsOptions } from '../capture/socket-events.js';
import { FakeClock } from '../clock.js';
import { CaptureError, UsageError } from '../errors.js';
import { FakePacketSource } from '../../test/helpers/fake-packet-source.js';
import { FakeProcFs } from '../../test/helpers/fake-procfs.js';
import { createMonitor } from './create-monitor.js';
import type { MonitorOptions } from './types.js';

const LOCAL = new Set(['10.0.0.1']);

interface FakeEvents {
  options: SocketEventsOptions | undefined;
  stopped: number;
}

async function setup(open: 'ok' | 'fail', extra: MonitorOptions = {}) {
  const clock = new FakeClock();
  const source = new FakePacketSource(['eth0']);
  const procFs = new FakeProcFs();
  procFs.addProcess({ pid: 100, comm: 'churner' });
  const fake: FakeEvents = { options: undefined, stopped: 0 };
  const warnings: string[] = [];
  const monitor = await createMonitor(
    { captureTimeoutMs: 60_000, logger: { warn: (m) => warnings.push(m) }, ...extra },
    {
      clock,
      source,
      procFs,
      localAddresses: { has: (a: string) => LOCAL.has(a) },
      openSocketEvents: (options) => {
        if (open === 'fail') {
          throw new CaptureError('socket events: loading failed: Invalid argument', {
            code: 'ERR_SOCKET_EVENTS',
          });
        }
        fake.options = options;
        return {
          stop: () => void fake.stopped++,
          stats: () => ({ events: 1, dropped: 3 }),
        };
      },
    },
  );
  monitor.start();
  return { clock, source, monitor, fake, warnings };
}

const connect: SocketEvent = {
  pid: 100,
  comm: 'churner',
  protocol: 6,
  localAddress: '10.0.0.1',
  localPort: 40000,
  remoteAddress: '93.184.216.34',
  remotePort: 443,
};

test('connect events attribute a socket no /proc scan saw, and stop() stops them', async () => {
  const { clock, source, monitor, fake } = await setup('ok');
  fake.options?.onEvents([connect]);
  const tsMs = clock.now();
  source.push(
    Array.from({ length: 4 }, () => ({
      src: '10.0.0.1',
      sport: 40000,
      dst: '93.184.216.34',
      dport: 443,
      tsMs,
      ipLen: 100,
    })),
  );
  clock.advance(1000);
  const entry = monitor.snapshot().processes.find((p) => p.process.pid === 100);
  assert.equal(entry?.total.sentBytes, 400);
  assert.equal(entry?.process.comm, 'churner');
  assert.deepEqual(monitor.stats().socketEvents, {
    received: 1,
    dropped: 3,
    used: 1,
    udp: false,
    udpReceived: 0,
    udpUsed: 0,
    tcpIo: false,
    tcpIoReceived: 0,
    tcpIoUsed: 0,
  });
  assert.equal(monitor.stats().retry.pendingFlows, 0);
  await monitor.stop();
  assert.equal(fake.stopped, 1);
});

test('connect events that cannot open are a warning, and the monitor runs without them', async () => {
  const { monitor, warnings } = await setup('fail');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0] ?? '', /socket events are off \(socket events: loading failed/);
  assert.equal(monitor.stats().socketEvents, undefined);
  await monitor.stop();
});

test('socketEvents: false does not open them', async () => {
  const { monitor, fake } = await setup('ok', { socketEvents: false });
  assert.equal(fake.options, undefined);
  assert.equal(monitor.stats().socketEvents, undefined);
  await monitor.stop();
});

test('socketEvents must be a boolean', async () => {
  await assert.rejects(
    createMonitor({ socketEvents: 'yes' as never }, { source: new FakePacketSource(['eth0']) }),
    (e: unknown) =>
      e instanceof UsageError && /option socketEvents must be true or false/.test(e.message),
  );
});

test('udpSendEvents: false asks for TCP connects only, and says nothing about UDP', async () => {
  const { monitor, fake, warnings } = await setup('ok', { udpSendEvents: false });
  assert.equal(fake.options?.udp, false);
  assert.deepEqual(warnings, []);
  assert.equal(monitor.stats().socketEvents?.udp, false);
  await monitor.stop();
});

test('UDP sends are asked for by default, and udpSendEvents must be a boolean', async () => {
  const { monitor, fake } = await setup('ok');
  assert.equal(fake.options?.udp, true);
  await monitor.stop();
  await assert.rejects(
    createMonitor({ udpSendEvents: 1 as never }, { source: new FakePacketSource(['eth0']) }),
    (e: unknown) =>
      e instanceof UsageError && /option udpSendEvents must be true or false/.test(e.message),
  );
});
