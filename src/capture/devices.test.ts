// listDevices() and loadAddon() against the real addon and the real host (no privileges).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { loadAddon } from './addon.js';
import { listDevices } from './devices.js';
import { AddonLoadError, CaptureError } from '../errors.js';
import { FakeAddon } from '../../test/helpers/fake-addon.js';

test('lists lo as an up loopback device with the addresses the OS reports', () => {
  const devices = listDevices();
  const lo = devices.find((d) => d.name === 'lo');
  assert.ok(lo, `devices: ${devices.map((d) => d.name).join(', ')}`);
  assert.equal(lo.isLoopback, true);
  assert.equal(lo.isUp, true);
  const fromOs = (networkInterfaces().lo ?? []).map((i) => ({
    family: i.family === 'IPv4' ? 'inet' : 'inet6',
    address: i.address,
    netmask: i.netmask,
  }));
  for (const a of fromOs)
    assert.ok(
      lo.addresses.some(
        (b) => b.family === a.family && b.address === a.address && b.netmask === a.netmask,
      ),
      JSON.stringify(a),
    );
  assert.ok(devices.some((d) => d.name === 'any'));
});

test('a listing failure is a CaptureError with libpcap text', () => {
  const addon = new FakeAddon();
  addon.listDevices = () => {
    throw new Error('pcap_findalldevs failed: socket: Address family not supported');
  };
  assert.throws(
    () => listDevices(addon),
    (e: unknown) =>
      e instanceof CaptureError &&
      e.code === 'ERR_CAPTURE' &&
      e.message ===
        'cannot list capture devices: pcap_findalldevs failed: socket: Address family not supported',
  );
});

test('a missing addon is an AddonLoadError naming every path tried and the fix', () => {
  const root = mkdtempSync(join(tmpdir(), 'pfc-noaddon-'));
  try {
    assert.throws(
      () => loadAddon(root),
      (e: unknown) =>
        e instanceof AddonLoadError &&
        e.code === 'ERR_ADDON_LOAD' &&
        e.message.startsWith('cannot load the pidflow native addon; tried:\n') &&
        e.message.includes(join(root, 'build/Release/pidflow.node')) &&
        e.message.includes(join(root, 'build/Debug/pidflow.node')) &&
        e.message.includes('npm run build:native') &&
        e.message.includes('apt-get install libpcap-dev'),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the built addon reports the record layout src/decode expects', () => {
  const addon = loadAddon();
  assert.equal(addon.recordVersion, 1);
  assert.equal(addon.recordSize, 72);
  assert.match(addon.libpcapVersion, /libpcap version/);
  assert.ok(addon.malformedKinds.includes('badIpHeaderLength'));
});
