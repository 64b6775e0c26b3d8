// decodeSocketEvents against hand-built 80-byte records (layout of native/bpf/sock_events.h),
// and openSocketEvents' error paths and counters with a fake addon.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeAddon } from '../../test/helpers/fake-addon.js';
import { CaptureError, PermissionError, UsageError } from '../errors.js';
import type { NativeAddon, NativeSocketEventsHandler } from './addon.js';
import { SOCKET_EVENT_SIZE, decodeSocketEvents, openSocketEvents } from './socket-events.js';
import type { SocketEvent } from './socket-events.js';

interface RecordSpec {
  pid: number;
  family: number;
  sport: number;
  dport: number;
  saddr: number[];
  daddr: number[];
  comm: string;
  /** IP protocol; 6 (TCP) when absent. */
  protocol?: number;
  /** 0 connect, 1 UDP send, 2 TCP read/write; by protocol when absent. */
  kind?: number;
  netns?: number;
  start?: number;
}

function records(specs: RecordSpec[]): Uint8Array {
  const buf = Buffer.alloc(specs.length * SOCKET_EVENT_SIZE);
  specs.forEach((r, i) => {
    const o = i * SOCKET_EVENT_SIZE;
    buf.writeUInt32LE(r.pid, o);
    buf.writeUInt16LE(r.family, o + 4);
    buf.writeUInt16LE(r.sport, o + 6);
    buf.writeUInt16LE(r.dport, o + 8);
    buf.writeUInt16LE(r.protocol ?? 6, o + 10);
    Buffer.from(r.saddr).copy(buf, o + 16);
    Buffer.from(r.daddr).copy(buf, o + 32);
    buf.write(r.comm, o + 48, 'latin1');
    buf.writeUInt16LE(r.kind ?? ((r.protocol ?? 6) === 6 ? 0 : 1), o + 12);
    buf.writeUInt32LE(r.netns ?? 0, o + 64);
    buf.writeBigUInt64LE(BigInt(r.start ?? 0), o + 72);
  });
  return buf;
}

const mapped = (a: number, b: number, c: number, d: number): number[] => [
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0xff,
  0xff,
  a,
  b,
  c,
  d,
];

test('decodes IPv4, IPv6 and IPv4-mapped records; skips an unknown family', () => {
  const v6 = [0xfd, 0x42, 0x6e, 0x66, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
  const v6peer = [0xfd, 0x42, 0x6e, 0x66, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
  const buf = records([
    {
      pid: 4242,
      family: 2,
      sport: 40000,
      dport: 80,
      saddr: [198, 18, 0, 1],
      daddr: [198, 18, 0, 2],
      comm: 'curl',
    },
    {
      pid: 7,
      family: 10,
      sport: 50000,
      dport: 443,
      saddr: v6,
      daddr: v6peer,
      comm: 'fifteen-chars-x',
    },
    {
      pid: 8,
      family: 10,
      sport: 50001,
      dport: 8080,
      saddr: mapped(127, 0, 0, 1),
      daddr: mapped(127, 0, 0, 1),
      comm: 'node',
    },
    { pid: 9, family: 1, sport: 1, dport: 1, saddr: [], daddr: [], comm: 'bad' },
  ]);
  const { events, malformed } = decodeSocketEvents(buf, 4);
  assert.equal(malformed, 1);
  assert.deepEqual(events, [
    {
      kind: 'connect',
      startTime: 0,
      netns: 0,
      pid: 4242,
      comm: 'curl',
      protocol: 6,
      localAddress: '198.18.0.1',
      localPort: 40000,
      remoteAddress: '198.18.0.2',
      remotePort: 80,
    },
    {
      kind: 'connect',
      startTime: 0,
      netns: 0,
      pid: 7,
      comm: 'fifteen-chars-x',
      protocol: 6,
      localAddress: 'fd42:6e66::1',
      localPort: 50000,
      remoteAddress: 'fd42:6e66::2',
      remotePort: 443,
    },
    {
      kind: 'connect',
      startTime: 0,
      netns: 0,
      pid: 8,
      comm: 'node',
      protocol: 6,
      localAddress: '127.0.0.1',
      localPort: 50001,
      remoteAddress: '127.0.0.1',
      remotePort: 8080,
    },
  ]);
});

test('a count larger than the buffer holds counts the missing records as malformed', () => {
  const buf = records([
    {
      pid: 1,
      family: 2,
      sport: 1,
      dport: 2,
      saddr: [127, 0, 0, 1],
      daddr: [127, 0, 0, 1],
      comm: 'a',
    },
  ]);
  const { events, malformed } = decodeSocketEvents(buf, 3);
  assert.equal(events.length, 1);
  assert.equal(malformed, 2);
});

/** A FakeAddon with a scripted openSocketEvents. */
function addonWith(
  open: NativeAddon['openSocketEvents'],
  extra: Partial<Pick<NativeAddon, 'hasSocketEvents' | 'sockEventSize' | 'sockEventVersion'>> = {},
): NativeAddon {
  return Object.assign(new FakeAddon(), {
    hasSocketEvents: true,
    sockEventVersion: 2,
    sockEventSize: 80,
    ...(open === undefined ? {} : { openSocketEvents: open }),
    ...extra,
  });
}

test('delivers decoded batches and sums kernel, queue and malformed drops', () => {
  let onBatch: NativeSocketEventsHandler | undefined;
  let stopped = 0;
  const addon = addonWith((options, handler) => {
    assert.deepEqual(options, {
      batchRecords: 1024,
      batchIntervalMs: 20,
      queueLimit: 65536,
      udp: true,
    });
    onBatch = handler;
    return {
      stop: () => void stopped++,
      stats: () => ({ events: 5, delivered: 2, droppedQueue: 1, droppedKernel: 2 }),
    };
  });
  const got: SocketEvent[] = [];
  const handle = openSocketEvents({ onEvents: (batch) => got.push(...batch) }, addon);
  onBatch?.(
    records([
      {
        pid: 3,
        family: 2,
        sport: 4,
        dport: 5,
        saddr: [198, 18, 0, 1],
        daddr: [198, 18, 0, 2],
        comm: 'x',
      },
      { pid: 3, family: 0, sport: 4, dport: 5, saddr: [], daddr: [], comm: 'x' },
    ]),
    2,
  );
  assert.equal(got.length, 1);
  assert.deepEqual(handle.stats(), { events: 1, dropped: 4, udpEvents: 0, tcpIoEvents: 0 });
  handle.stop();
  assert.equal(stopped, 1);
});

test('decodes UDP records: bound, wildcard IPv4 and IPv6, IPv4-mapped destination', () => {
  const zero16 = new Array<number>(16).fill(0);
  const buf = records([
    {
      pid: 501,
      family: 2,
      sport: 53001,
      dport: 53,
      saddr: [0, 0, 0, 0],
      daddr: [127, 0, 0, 53],
      comm: 'dig',
      protocol: 17,
    },
    {
      pid: 502,
      family: 2,
      sport: 40000,
      dport: 9999,
      saddr: [198, 18, 0, 1],
      daddr: [198, 18, 0, 2],
      comm: 'bound',
      protocol: 17,
    },
    {
      pid: 503,
      family: 10,
      sport: 41000,
      dport: 53,
      saddr: zero16,
      daddr: mapped(198, 18, 0, 2),
      comm: 'python3',
      protocol: 17,
    },
    {
      pid: 504,
      family: 10,
      sport: 42000,
      dport: 5353,
      saddr: [0xfd, 0x42, 0x6e, 0x66, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
      daddr: [0xfd, 0x42, 0x6e, 0x66, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
      comm: 'lite',
      protocol: 136,
    },
  ]);
  const { events, malformed } = decodeSocketEvents(buf, 4);
  assert.equal(malformed, 0);
  assert.deepEqual(events, [
    {
      kind: 'udpSend',
      startTime: 0,
      netns: 0,
      pid: 501,
      comm: 'dig',
      protocol: 17,
      localAddress: '0.0.0.0',
      localPort: 53001,
      remoteAddress: '127.0.0.53',
      remotePort: 53,
    },
    {
      kind: 'udpSend',
      startTime: 0,
      netns: 0,
      pid: 502,
      comm: 'bound',
      protocol: 17,
      localAddress: '198.18.0.1',
      localPort: 40000,
      remoteAddress: '198.18.0.2',
      remotePort: 9999,
    },
    {
      kind: 'udpSend',
      startTime: 0,
      netns: 0,
      pid: 503,
      comm: 'python3',
      protocol: 17,
      localAddress: '::',
      localPort: 41000,
      remoteAddress: '198.18.0.2',
      remotePort: 53,
    },
    {
      kind: 'udpSend',
      startTime: 0,
      netns: 0,
      pid: 504,
      comm: 'lite',
      protocol: 136,
      localAddress: 'fd42:6e66::1',
      localPort: 42000,
      remoteAddress: 'fd42:6e66::2',
      remotePort: 5353,
    },
  ]);
});

test('counts UDP events and reports whether UDP tracking is attached', () => {
  let onBatch: NativeSocketEventsHandler | undefined;
  const on = openSocketEvents(
    { onEvents: () => {} },
    addonWith((_options, handler) => {
      onBatch = handler;
      return {
        udp: true,
        udpWarning: '',
        stop: () => {},
        stats: () => ({ events: 2, delivered: 2, droppedQueue: 0, droppedKernel: 0 }),
      };
    }),
  );
  const udp = { pid: 1, family: 2, sport: 4, dport: 5, saddr: [0, 0, 0, 0], comm: 'u' };
  onBatch?.(
    records([
      { ...udp, daddr: [127, 0, 0, 1], protocol: 17 },
      { ...udp, daddr: [127, 0, 0, 1], protocol: 6 },
    ]),
    2,
  );
  assert.equal(on.udp, true);
  assert.equal(on.udpWarning, undefined);
  assert.deepEqual(on.stats(), { events: 2, dropped: 0, udpEvents: 1, tcpIoEvents: 0 });
  const off = openSocketEvents(
    { onEvents: () => {} },
    addonWith(() => ({
      udp: false,
      udpWarning: 'attaching on_sock_send_length failed: Operation not supported',
      stop: () => {},
      stats: () => ({ events: 0, delivered: 0, droppedQueue: 0, droppedKernel: 0 }),
    })),
  );
  assert.equal(off.udp, false);
  assert.match(off.udpWarning ?? '', /^attaching on_sock_send_length failed: .*sock_send_length/);
});

test('decodes TCP read/write events with netns and start time; drops kinds not asked for', () => {
  let onBatch: NativeSocketEventsHandler | undefined;
  const seen: SocketEvent[] = [];
  let nativeUdp: boolean | undefined;
  const handle = openSocketEvents(
    { onEvents: (batch) => seen.push(...batch), udp: false },
    addonWith((options, handler) => {
      onBatch = handler;
      nativeUdp = options.udp;
      return {
        udp: true,
        io: true,
        udpWarning: '',
        stop: () => {},
        stats: () => ({ events: 3, delivered: 3, droppedQueue: 0, droppedKernel: 0 }),
      };
    }),
  );
  // The send program serves TCP writes too: loaded although UDP events were not asked for.
  assert.equal(nativeUdp, true);
  assert.equal(handle.tcpIo, true);
  assert.equal(handle.udp, false);
  const base = { pid: 77, family: 2, saddr: [198, 18, 0, 1], daddr: [198, 18, 0, 2], comm: 'w' };
  onBatch?.(
    records([
      { ...base, sport: 8080, dport: 40000, kind: 2, netns: 4026531840, start: 2 ** 33 + 5 },
      { ...base, sport: 5353, dport: 53, protocol: 17 },
      { ...base, sport: 8080, dport: 40001, kind: 9 },
    ]),
    3,
  );
  assert.deepEqual(seen, [
    {
      kind: 'tcpIo',
      startTime: 2 ** 33 + 5,
      netns: 4026531840,
      pid: 77,
      comm: 'w',
      protocol: 6,
      localAddress: '198.18.0.1',
      localPort: 8080,
      remoteAddress: '198.18.0.2',
      remotePort: 40000,
    },
  ]);
  assert.deepEqual(handle.stats(), { events: 1, dropped: 1, udpEvents: 0, tcpIoEvents: 1 });
});

test('an addon built without libbpf is a CaptureError that says how to get the feature', () => {
  const addon = addonWith(undefined, { hasSocketEvents: false });
  assert.throws(
    () => openSocketEvents({ onEvents: () => {} }, addon),
    (e: unknown) =>
      e instanceof CaptureError && e.code === 'ERR_SOCKET_EVENTS' && /libbpf-dev/.test(e.message),
  );
});

test('a record layout mismatch is a CaptureError asking for a rebuild', () => {
  const addon = addonWith(() => assert.fail('must not open'), { sockEventSize: 48 });
  assert.throws(
    () => openSocketEvents({ onEvents: () => {} }, addon),
    (e: unknown) => e instanceof CaptureError && /npm run build:native/.test(e.message),
  );
});

test('a refused BPF load is a PermissionError; other load failures a CaptureError', () => {
  const refused = addonWith(() => {
    throw new Error(
      'socket events: loading the BPF program (bpf_object__load) failed: Operation not permitted',
    );
  });
  assert.throws(
    () => openSocketEvents({ onEvents: () => {} }, refused),
    (e: unknown) => e instanceof PermissionError && /CAP_BPF/.test(e.message),
  );
  const noBtf = addonWith(() => {
    throw new Error(
      'socket events: loading the BPF program (bpf_object__load) failed: Invalid argument',
    );
  });
  assert.throws(
    () => openSocketEvents({ onEvents: () => {} }, noBtf),
    (e: unknown) =>
      e instanceof CaptureError && e.code === 'ERR_SOCKET_EVENTS' && /BTF/.test(e.message),
  );
});

test('bad options are UsageErrors naming the option', () => {
  const addon = addonWith(() => assert.fail('must not open'));
  assert.throws(
    () => openSocketEvents({ onEvents: () => {}, batchIntervalMs: 0 }, addon),
    (e: unknown) => e instanceof UsageError && /batchIntervalMs/.test(e.message),
  );
  assert.throws(
    () => openSocketEvents({ onEvents: 'no' } as never, addon),
    (e: unknown) => e instanceof UsageError && /onEvents/.test(e.message),
  );
});
