// Every option's validation: the error names the option and what to do; defaults are filled in.

import assert from 'node:assert/strict';
import test from 'node:test';
import { UsageError } from '../errors.js';
import { DEFAULTS, resolveOptions } from './options.js';
import type { MonitorOptions } from './types.js';

test('fills in the documented defaults', () => {
  const o = resolveOptions({});
  assert.equal(o.captureTimeoutMs, 300_000);
  assert.equal(o.syncIntervalMs, 1000);
  assert.equal(o.ringSeconds, 15);
  assert.equal(o.snaplen, 128);
  assert.equal(o.queueLimit, 1_000_000);
  assert.deepEqual(o.protocols, ['tcp', 'udp']);
  assert.equal(o.maxConnections, DEFAULTS.maxConnections);
  assert.equal(o.pcapFile, undefined);
  assert.equal(o.limits, undefined);
  assert.deepEqual(o.devices, []);
});

test('a long ring lowers the default connection bound; captureTimeoutMs 0 disables the timeout', () => {
  const o = resolveOptions({ ringSeconds: 3600, captureTimeoutMs: 0 });
  assert.ok(o.maxConnections < 10_000 && o.maxConnections > 1000, String(o.maxConnections));
  assert.equal(o.captureTimeoutMs, 0);
});

test('pcapFile accepts a path or an object', () => {
  assert.deepEqual(resolveOptions({ pcapFile: '/tmp/x.pcap' }).pcapFile, {
    path: '/tmp/x.pcap',
    snaplen: 262_144,
    rotateBytes: 0,
    maxFiles: 0,
  });
  assert.deepEqual(
    resolveOptions({ pcapFile: { path: 'a', snaplen: 96, rotateBytes: 1 << 20 } }).pcapFile,
    {
      path: 'a',
      snaplen: 96,
      rotateBytes: 1 << 20,
      maxFiles: 0,
    },
  );
  assert.deepEqual(
    resolveOptions({ pcapFile: { path: 'a', rotateBytes: 65_536, maxFiles: 3 } }).pcapFile,
    { path: 'a', snaplen: 262_144, rotateBytes: 65_536, maxFiles: 3 },
  );
});

const bad: [string, unknown, RegExp][] = [
  [
    'misspelled option',
    { captureTimeout: 5 },
    /unknown option 'captureTimeout': did you mean 'captureTimeoutMs'\?/,
  ],
  ['far-off option', { zzzzzzzzzzzz: 1 }, /known options: devices/],
  ['not an object', 42, /takes an options object/],
  ['devices not a list', { devices: 'eth0' }, /option devices must be a list of interface names/],
  ['device name with a slash', { devices: ['a/b'] }, /option devices/],
  ['device twice', { devices: ['lo', 'lo'] }, /names a device twice/],
  ['devices and readFile', { devices: ['lo'], readFile: 'x.pcap' }, /exclude each other/],
  [
    'readFile and pcapFile',
    { readFile: 'x.pcap', pcapFile: 'y.pcap' },
    /readFile and pcapFile exclude each other/,
  ],
  ['empty filter', { filter: '' }, /option filter must be a non-empty string/],
  [
    'bad protocol',
    { protocols: ['icmp'] },
    /option protocols must be a non-empty list of 'tcp' and 'udp'/,
  ],
  ['no protocol', { protocols: [] }, /option protocols/],
  [
    'negative timeout',
    { captureTimeoutMs: -1 },
    /option captureTimeoutMs must be a whole number from 0/,
  ],
  [
    'fractional ring',
    { ringSeconds: 1.5 },
    /option ringSeconds must be a whole number from 1 to 3600/,
  ],
  ['ring too long', { ringSeconds: 3601 }, /option ringSeconds/],
  ['sync too fast', { syncIntervalMs: 1 }, /option syncIntervalMs must be a whole number from 50/],
  ['tiny snaplen', { snaplen: 20 }, /option snaplen/],
  ['tiny queue', { queueLimit: 10 }, /option queueLimit/],
  [
    'includeLoopback not boolean',
    { includeLoopback: 'yes' },
    /option includeLoopback must be true or false/,
  ],
  ['pcapFile without path', { pcapFile: {} }, /option pcapFile.path is required/],
  [
    'pcapFile unknown key',
    { pcapFile: { path: 'a', rotate: 1 } },
    /unknown pcapFile option 'rotate': did you mean 'rotateBytes'\?/,
  ],
  ['small rotation', { pcapFile: { path: 'a', rotateBytes: 100 } }, /at least 65536 bytes/],
  [
    'file limit without rotation',
    { pcapFile: { path: 'a', maxFiles: 3 } },
    /option pcapFile.maxFiles \(3\) needs rotation: set pcapFile.rotateBytes to the size of one file/,
  ],
  [
    'negative file limit',
    { pcapFile: { path: 'a', rotateBytes: 65_536, maxFiles: -1 } },
    /option pcapFile.maxFiles must be a whole number from 0 to 1000000 files \(0 = keep all\), got -1/,
  ],
  [
    'huge file limit',
    { pcapFile: { path: 'a', rotateBytes: 65_536, maxFiles: 1_000_001 } },
    /option pcapFile.maxFiles must be a whole number from 0 to 1000000/,
  ],
  ['limits not an object', { limits: 1 }, /option limits must be an object/],
  ['limits misspelled', { limits: { cpuCore: 1 } }, /did you mean 'cpuCores'\?/],
  ['zero cpu', { limits: { cpuCores: 0 } }, /limits.cpuCores must be a number of cores above 0/],
  ['too many cpus', { limits: { cpuCores: 10_000 } }, /limits.cpuCores/],
  [
    'tiny memory',
    { limits: { memoryMB: 1 } },
    /limits.memoryMB must be a number of MiB, at least 16/,
  ],
  [
    'connection history too big',
    { ringSeconds: 3600, maxConnections: 1_000_000 },
    /lower maxConnections to at most/,
  ],
  ['logger not an object', { logger: 'console' }, /option logger must be an object/],
];

for (const [name, options, message] of bad) {
  test(`rejects ${name} with a UsageError that says what to do`, () => {
    assert.throws(
      () => resolveOptions(options as MonitorOptions),
      (e: unknown) => e instanceof UsageError && e.code === 'ERR_USAGE' && message.test(e.message),
    );
  });
}
