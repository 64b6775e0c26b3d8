// openCapture() option checks and error translation, against the fake addon (no privileges).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { checkRecordLayout } from './addon.js';
import { openCapture } from './open-capture.js';
import type { CaptureWarning } from './native-source.js';
import { AddonLoadError, CaptureError, PermissionError, UsageError } from '../errors.js';
import { FakeAddon } from '../../test/helpers/fake-addon.js';
import { buildBatch } from '../../test/helpers/record-builder.js';

const SETCAP =
  'run as root, or grant them with setcap cap_net_raw,cap_net_admin+eip $(readlink -f $(which node))';

test('fills in the documented defaults before calling the addon', () => {
  const addon = new FakeAddon();
  openCapture({ devices: ['eth0'], addon });
  const o = addon.lastHandle.options;
  assert.deepEqual(
    { ...o },
    {
      offline: false,
      devices: ['eth0'],
      snaplen: 128,
      bufferBytes: 8 * 1024 * 1024,
      immediate: false,
      promiscuous: false,
      batchIntervalMs: 100,
      batchRecords: 4096,
      queueLimit: 1_000_000,
      waitWhenFull: false,
      pcapSnaplen: 128,
      pcapRotateBytes: 0,
      pcapMaxFiles: 0,
    },
  );
});

test('a small queueLimit shrinks the default batch to fit', () => {
  const addon = new FakeAddon();
  openCapture({ devices: ['eth0'], queueLimit: 1000, addon });
  assert.equal(addon.lastHandle.options.batchRecords, 1000);
  assert.equal(addon.lastHandle.options.queueLimit, 1000);
});

test('passes pcap file options through', () => {
  const addon = new FakeAddon();
  openCapture({
    devices: ['any'],
    filter: 'tcp',
    pcapFile: { path: '/tmp/x.pcap', snaplen: 96, rotateBytes: 1 << 20 },
    addon,
  });
  const o = addon.lastHandle.options;
  assert.equal(o.filter, 'tcp');
  assert.equal(o.pcapPath, '/tmp/x.pcap');
  assert.equal(o.pcapSnaplen, 96);
  assert.equal(o.pcapRotateBytes, 1 << 20);
  assert.equal(o.pcapMaxFiles, 0);
});

test('passes the pcap file limit through', () => {
  const addon = new FakeAddon();
  openCapture({
    devices: ['any'],
    pcapFile: { path: '/tmp/x.pcap', rotateBytes: 65536, maxFiles: 3 },
    addon,
  });
  const o = addon.lastHandle.options;
  assert.equal(o.pcapRotateBytes, 65536);
  assert.equal(o.pcapMaxFiles, 3);
});

test('rejects every bad option with a UsageError naming it', () => {
  const addon = new FakeAddon();
  const cases: [unknown, string][] = [
    [{ devices: [] }, 'devices must be a list of 1 to 64 device names'],
    [{ devices: 'eth0' }, 'devices must be a list of 1 to 64 device names'],
    [{ devices: [''] }, 'device names must be non-empty strings, got ""'],
    [{ devices: ['lo', 'lo'] }, 'device "lo" is listed twice'],
    [{ devices: ['lo'], snaplen: 10 }, 'snaplen must be an integer from 68 to 262144, got 10'],
    [{ devices: ['lo'], snaplen: 1.5 }, 'snaplen must be an integer from 68 to 262144, got 1.5'],
    [{ devices: ['lo'], bufferBytes: 1 }, 'bufferBytes must be an integer from 65536'],
    [{ devices: ['lo'], immediate: 1 }, 'immediate must be true or false, got 1'],
    [{ devices: ['lo'], filter: 5 }, 'filter must be a string, got 5'],
    [{ devices: ['lo'], batchIntervalMs: 0 }, 'batchIntervalMs must be an integer from 1 to 60000'],
    [
      { devices: ['lo'], batchRecords: 10, queueLimit: 5 },
      'batchRecords (10) must not exceed queueLimit (5)',
    ],
    [
      { devices: ['lo'], queueLimit: 0 },
      'queueLimit must be an integer from 1 to 100000000, got 0',
    ],
    [{ devices: ['lo'], pcapFile: 'x' }, 'pcapFile must be an object'],
    [{ devices: ['lo'], pcapFile: { path: '' } }, 'pcapFile.path must be a file path'],
    [{ devices: ['lo'], pcapFile: { path: 'x', rotate: 1 } }, 'unknown pcapFile option "rotate"'],
    [
      { devices: ['lo'], pcapFile: { path: 'x', maxFiles: 3 } },
      'pcapFile.maxFiles (3) needs rotation: set pcapFile.rotateBytes to the size of one file',
    ],
    [
      { devices: ['lo'], pcapFile: { path: 'x', rotateBytes: 65536, maxFiles: -1 } },
      'pcapFile.maxFiles must be an integer from 0 to 1000000, got -1',
    ],
    [
      { devices: ['lo'], pcapFile: { path: 'x', rotateBytes: 65536, maxFiles: 1.5 } },
      'pcapFile.maxFiles must be an integer from 0 to 1000000, got 1.5',
    ],
    [
      { devices: ['lo'], pcapFile: { path: 'x', rotateBytes: 65536, maxFiles: 1_000_001 } },
      'pcapFile.maxFiles must be an integer from 0 to 1000000, got 1000001',
    ],
    [
      { devices: ['lo'], snapLen: 64 },
      'unknown openCapture option "snapLen": did you mean "snaplen"?',
    ],
    [{ devices: ['lo'], promisc: true }, 'unknown openCapture option "promisc"'],
    [{ devices: ['lo'], onWarning: 'x' }, 'onWarning must be a function'],
  ];
  for (const [options, message] of cases) {
    assert.throws(
      () => openCapture({ addon, ...(options as object) } as never),
      (e: unknown) =>
        e instanceof UsageError && e.code === 'ERR_USAGE' && e.message.startsWith(message),
      message,
    );
  }
  assert.equal(addon.handles.length, 0, 'the addon is never called with bad options');
});

test('no permission on every device is a PermissionError with the setcap fix', () => {
  const addon = new FakeAddon({
    failures: {
      eth0: {
        errorKind: 'permission',
        error:
          "You don't have permission to perform this capture on that device: socket: Operation not permitted",
      },
    },
  });
  assert.throws(
    () => openCapture({ devices: ['eth0'], addon }),
    (e: unknown) =>
      e instanceof PermissionError &&
      e.code === 'ERR_PERMISSION' &&
      e.message.startsWith(`capture on eth0 needs CAP_NET_RAW and CAP_NET_ADMIN: ${SETCAP}`) &&
      e.message.includes('Operation not permitted'),
  );
  assert.equal(addon.lastHandle.stopCalls, 1, 'the failed handle is freed');
});

test('an unknown device is a CaptureError listing the available devices', () => {
  const addon = new FakeAddon({
    failures: { eth9: { errorKind: 'no-device', error: 'No such device exists' } },
  });
  assert.throws(
    () => openCapture({ devices: ['eth9'], addon }),
    (e: unknown) =>
      e instanceof CaptureError &&
      e.code === 'ERR_CAPTURE_NO_DEVICE' &&
      e.message ===
        'no capture device named "eth9" (libpcap: No such device exists); available devices: lo, eth0',
  );
});

test('a bad filter is a CaptureError quoting the expression and libpcap text', () => {
  const addon = new FakeAddon({
    failures: {
      lo: { errorKind: 'filter', error: "can't parse filter expression: syntax error" },
      eth0: { errorKind: 'filter', error: "can't parse filter expression: syntax error" },
    },
  });
  assert.throws(
    () => openCapture({ devices: ['lo', 'eth0'], filter: 'tcp prot 80', addon }),
    (e: unknown) =>
      e instanceof CaptureError &&
      e.code === 'ERR_CAPTURE_FILTER' &&
      e.message ===
        `invalid capture filter "tcp prot 80": can't parse filter expression: syntax error`,
  );
});

test('every device failing differently is one CaptureError listing each device and reason', () => {
  const addon = new FakeAddon({
    failures: {
      eth9: { errorKind: 'no-device', error: 'No such device exists' },
      lo: { errorKind: 'other', error: 'something odd' },
    },
  });
  assert.throws(
    () => openCapture({ devices: ['eth9', 'lo'], addon }),
    (e: unknown) =>
      e instanceof CaptureError &&
      e.code === 'ERR_CAPTURE' &&
      e.message ===
        'no capture device could be opened:\n' +
          '  no capture device named "eth9" (libpcap: No such device exists); available devices: lo, eth0\n' +
          '  cannot capture on lo: something odd',
  );
});

test('one device failing among several is a warning and the others capture', async () => {
  const addon = new FakeAddon({
    failures: { eth9: { errorKind: 'no-device', error: 'No such device exists' } },
    warnings: { lo: 'Warning: promiscuous mode not supported' },
  });
  const seen: CaptureWarning[] = [];
  const source = openCapture({
    devices: ['eth9', 'lo'],
    addon,
    onWarning: (_message, w) => seen.push(w),
  });
  assert.deepEqual(
    seen.map((w) => w.device),
    ['eth9', 'lo'],
  );
  assert.match(seen[0]?.message ?? '', /^no capture device named "eth9"/);
  assert.equal(seen[1]?.message, 'capture on lo: Warning: promiscuous mode not supported');
  let delivered = 0;
  source.setBatchHandler(({ count }) => (delivered += count));
  source.start();
  const batch = buildBatch([{ src: '198.18.0.1', dst: '198.18.0.2', sport: 1, dport: 2 }]);
  addon.lastHandle.deliver(1, new Uint8Array(batch.view.buffer, 0, batch.view.byteLength));
  assert.equal(delivered, 1);
  // A device dying at run time is a warning too; the last one ending is an error end.
  addon.lastHandle.endDevice(1, 'The interface went down');
  addon.lastHandle.endSource('error');
  const end = await source.done;
  assert.equal(end.reason, 'error');
  assert.ok(end.error instanceof CaptureError);
  assert.equal(
    end.error.message,
    'every capture device stopped: capture on lo stopped: The interface went down',
  );
  assert.equal(seen[2]?.message, 'capture on lo stopped: The interface went down');
});

test('a record layout mismatch is an AddonLoadError with the rebuild fix', () => {
  assert.throws(
    () => checkRecordLayout({ recordVersion: 2, recordSize: 80 }, 'build/Release/pidflow.node'),
    (e: unknown) =>
      e instanceof AddonLoadError &&
      e.code === 'ERR_ADDON_LOAD' &&
      e.message ===
        'build/Release/pidflow.node writes records of version 2 and 80 bytes, but src/decode expects version 1 and 72 bytes: rebuild it with `npm run build:native`.',
  );
});
