// The kernel owner source on a fake addon: record decoding (shared sockets, several fds of one
// process), byte-identical reads, lasting and passing failures, truncation.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KernelSocketOwners, SOCKET_OWNER_SIZE, hasSocketOwners } from './kernel-owners.js';
import type { SocketOwnersAddon } from './kernel-owners.js';

function records(rows: readonly [tgid: number, fd: number, inode: number][]): Uint8Array {
  const bytes = new Uint8Array(rows.length * SOCKET_OWNER_SIZE);
  const view = new DataView(bytes.buffer);
  rows.forEach(([tgid, fd, inode], i) => {
    view.setUint32(i * SOCKET_OWNER_SIZE, tgid, true);
    view.setUint32(i * SOCKET_OWNER_SIZE + 4, fd, true);
    view.setUint32(i * SOCKET_OWNER_SIZE + 8, inode, true);
    view.setUint32(i * SOCKET_OWNER_SIZE + 12, 4026531840, true);
  });
  return bytes;
}

function fakeAddon(
  answers: (() => Promise<{ records: Uint8Array; truncated: boolean }>)[],
  open: () => number = () => 7,
): Required<SocketOwnersAddon> & { opens: number; closes: number } {
  const addon = {
    opens: 0,
    closes: 0,
    socketOwnerVersion: 1,
    socketOwnerSize: SOCKET_OWNER_SIZE,
    socketOwnersOpen: () => {
      addon.opens++;
      return open();
    },
    socketOwnersRead: () => {
      const next = answers.shift();
      if (next === undefined) throw new Error('no more answers');
      return next();
    },
    socketOwnersClose: () => {
      addon.closes++;
    },
  };
  return addon;
}

const ok = (rows: readonly [number, number, number][]) => () =>
  Promise.resolve({ records: records(rows), truncated: false });

function coded(code: string): () => Promise<never> {
  return () => Promise.reject(Object.assign(new Error(`failed: ${code}`), { code }));
}

test('hasSocketOwners wants the functions and the record layout this reader decodes', () => {
  const addon = fakeAddon([]);
  assert.equal(hasSocketOwners(addon), true);
  assert.equal(hasSocketOwners({ ...addon, socketOwnerSize: 24 }), false);
  assert.equal(hasSocketOwners({ ...addon, socketOwnerVersion: 2 }), false);
  assert.equal(hasSocketOwners(undefined), false);
});

test('holders: one process, several fds of one process, a socket shared after fork', async () => {
  const owners = new KernelSocketOwners(
    fakeAddon([
      ok([
        [100, 3, 5000],
        [100, 4, 5001],
        [100, 9, 5001], // dup()
        [100, 5, 6000],
        [250, 3, 6000], // forked worker holds the listener too
        [90, 7, 6000], // out of pid order: still sorted
        [300, 3, 0], // no inode: ignored
      ]),
    ]),
  );
  const h = await owners.read();
  assert.ok(h !== undefined);
  assert.equal(h.of(5000), 100);
  assert.equal(h.of(5001), 100);
  assert.deepEqual(h.of(6000), [90, 100, 250]);
  assert.equal(h.of(7000), undefined);
  assert.equal(h.of(0), undefined);
  assert.equal(h.isSame, false);
  assert.equal(h.records, 7);
  assert.equal(owners.stats().records, 7);
});

test('a read byte-for-byte like the last one says isSame and keeps the same answers', async () => {
  const rows: [number, number, number][] = [
    [1, 3, 10],
    [2, 3, 11],
  ];
  const owners = new KernelSocketOwners(fakeAddon([ok(rows), ok(rows), ok([[1, 3, 10]])]));
  assert.equal((await owners.read())?.isSame, false);
  const same = await owners.read();
  assert.equal(same?.isSame, true);
  assert.equal(same?.of(11), 2);
  const changed = await owners.read();
  assert.equal(changed?.isSame, false);
  assert.equal(changed?.of(11), undefined);
});

test('a lasting failure turns the source off once, with the reason; a passing one fails one read', async () => {
  const reasons: string[] = [];
  const addon = fakeAddon([coded('EIO'), ok([[5, 3, 77]]), coded('EPIDNS')]);
  const owners = new KernelSocketOwners(addon, { onUnavailable: (r) => reasons.push(r) });
  assert.equal(await owners.read(), undefined);
  assert.equal(owners.isAvailable(), true);
  assert.equal((await owners.read())?.of(77), 5);
  assert.equal(await owners.read(), undefined);
  assert.equal(owners.isAvailable(), false);
  assert.deepEqual(reasons, ['failed: EPIDNS']);
  assert.equal(await owners.read(), undefined, 'not tried again');
  assert.equal(owners.stats().failures, 2);
  assert.equal(owners.stats().active, false);
  assert.equal(addon.closes, 1);
  owners.close();
});

test('no permission to load: off at the first read, the scanner walks /proc', async () => {
  const reasons: string[] = [];
  const owners = new KernelSocketOwners(
    fakeAddon([], () => {
      throw Object.assign(new Error('loading needs CAP_BPF'), { code: 'EPERM' });
    }),
    { onUnavailable: (r) => reasons.push(r) },
  );
  assert.equal(await owners.read(), undefined);
  assert.equal(owners.isAvailable(), false);
  assert.deepEqual(reasons, ['loading needs CAP_BPF']);
});

test('more sockets than maxRecords: that read fails (the list would be incomplete)', async () => {
  const owners = new KernelSocketOwners(
    fakeAddon([() => Promise.resolve({ records: records([[1, 3, 10]]), truncated: true })]),
    { maxRecords: 1 },
  );
  assert.equal(await owners.read(), undefined);
  assert.equal(owners.isAvailable(), true);
  assert.match(owners.stats().lastError, /more than 1 socket fds/);
});
