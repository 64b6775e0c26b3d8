// The native pcap writer's rotation with a file limit (native/savefile.cc), through the real
// addon in offline mode: a generated pcap file with a known number of packets is replayed while
// the addon writes it out again with rotateBytes 65536 and maxFiles 3. No privileges needed.
//
// Ground truth: the generated packets (each carries its index in the payload) and the pcap
// format's sizes (24-byte file header, 16-byte record header + captured bytes per packet).
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { loadAddon } from './addon.js';
import { checkBatchLimits } from './open-capture.js';
import { NativeSource } from './native-source.js';
import type { CaptureStats, RecordBatch } from './packet-source.js';
import {
  LINKTYPE_ETHERNET,
  buildPacket,
  summarizePcap,
  writePcap,
} from '../../test/helpers/pcap-truth.js';

const PACKETS = 2000;
const PAYLOAD_BYTES = 200;
/** Ethernet 14 + IPv4 20 + UDP 8 + payload. */
const FRAME_BYTES = 14 + 20 + 8 + PAYLOAD_BYTES;
const ROTATE_BYTES = 65_536;
const MAX_FILES = 3;
/** Packets per file: a new file starts when the next record would exceed ROTATE_BYTES. */
const PER_FILE = Math.floor((ROTATE_BYTES - 24) / (16 + FRAME_BYTES));
/** Files the writer opens in all. */
const FILES = Math.ceil(PACKETS / PER_FILE);
const PAYLOAD_OFFSET = 14 + 20 + 8;

/** A pcap file of PACKETS UDP frames; packet i carries i as a 32-bit number in its payload. */
function generateInput(path: string): void {
  const records = [];
  for (let i = 0; i < PACKETS; i++) {
    const data = buildPacket({
      ipVersion: 4,
      protocol: 'udp',
      src: Buffer.from([198, 18, 0, 1]),
      dst: Buffer.from([198, 18, 0, 2]),
      srcPort: 40000,
      dstPort: 9,
      payloadBytes: PAYLOAD_BYTES,
    });
    data.writeUInt32BE(i, PAYLOAD_OFFSET);
    records.push({ data, timestampMs: 1_700_000_000_000 + i });
  }
  writeFileSync(path, writePcap(records, LINKTYPE_ETHERNET));
}

/** The packet indexes stored in one written file, checking its header and record framing. */
function packetIndexes(path: string): number[] {
  const file = readFileSync(path);
  assert.ok(file.length >= 24, `${path} has a pcap file header`);
  assert.equal(file.readUInt32LE(0), 0xa1b2c3d4, `${path} starts with the pcap magic`);
  assert.equal(file.readUInt32LE(20), LINKTYPE_ETHERNET, `${path} link type`);
  assert.ok(file.length <= ROTATE_BYTES, `${path} is at most rotateBytes long`);
  const out: number[] = [];
  let pos = 24;
  while (pos < file.length) {
    assert.ok(pos + 16 <= file.length, `${path}: whole record header at ${pos}`);
    const captured = file.readUInt32LE(pos + 8);
    assert.equal(captured, FRAME_BYTES, `${path}: captured length at ${pos}`);
    assert.equal(file.readUInt32LE(pos + 12), FRAME_BYTES, `${path}: wire length at ${pos}`);
    assert.ok(pos + 16 + captured <= file.length, `${path}: whole record at ${pos}`);
    out.push(file.readUInt32BE(pos + 16 + PAYLOAD_OFFSET));
    pos += 16 + captured;
  }
  // The independent parser in test/helpers agrees on the number of packets.
  assert.equal(summarizePcap(file).packets, out.length);
  return out;
}

function fileName(base: string, index: number): string {
  return index === 0 ? base : `${base}.${index}`;
}

/**
 * Replay `input` through the addon while it writes `output` with rotation and a file limit.
 * One-record batches and a one-record in-flight limit keep the reader (and so the writer) at
 * most a few packets ahead of `onPacket`, which sees each packet index as JS receives it.
 */
async function replayWriting(
  input: string,
  output: string,
  onPacket: (index: number) => void = () => {},
): Promise<CaptureStats> {
  const addon = loadAddon();
  const { queueLimit, batchRecords } = checkBatchLimits({ queueLimit: 1, batchRecords: 1 });
  const source = new NativeSource('file', [input]);
  const handle = addon.open(
    {
      offline: true,
      devices: [input],
      snaplen: 262144,
      bufferBytes: 0,
      immediate: false,
      promiscuous: false,
      batchIntervalMs: 100,
      batchRecords,
      queueLimit,
      waitWhenFull: true,
      pcapPath: output,
      pcapSnaplen: 262144,
      pcapRotateBytes: ROTATE_BYTES,
      pcapMaxFiles: MAX_FILES,
    },
    source.onMessage,
  );
  assert.deepEqual(
    handle.openResults().map((r) => r.ok),
    [true],
  );
  source.attach(handle);
  let seen = 0;
  source.setBatchHandler(({ count }: RecordBatch) => {
    for (let i = 0; i < count; i++) onPacket(seen++);
  });
  try {
    source.start();
    assert.deepEqual(await source.done, { reason: 'end-of-file' });
  } finally {
    await source.stop();
  }
  assert.equal(seen, PACKETS, 'every generated packet was replayed');
  return source.stats();
}

function withDir(body: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pfp-savefile-'));
    try {
      await body(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('the sizes of this test make at least 6 files', () => {
  // (65536 - 24) / (16 + 242) = 253.9: 253 packets per file, 2000 packets in 8 files.
  assert.equal(PER_FILE, 253);
  assert.equal(FILES, 8);
});

test(
  'rotateBytes 65536 with maxFiles 3 keeps exactly the last 3 files, each a whole pcap file',
  { timeout: 60_000 },
  withDir(async (dir) => {
    const input = join(dir, 'input.pcap');
    generateInput(input);
    const output = join(dir, 'out.pcap');
    const stats = await replayWriting(input, output);

    const kept = Array.from({ length: MAX_FILES }, (_, i) =>
      fileName('out.pcap', FILES - MAX_FILES + i),
    );
    assert.deepEqual(readdirSync(dir).sort(), ['input.pcap', ...kept].sort());
    // The kept files hold exactly the last packets, in order, with nothing missing.
    const indexes = kept.flatMap((name) => packetIndexes(join(dir, name)));
    const removedPackets = (FILES - MAX_FILES) * PER_FILE;
    assert.deepEqual(
      indexes,
      Array.from({ length: PACKETS - removedPackets }, (_, i) => removedPackets + i),
    );
    // Each kept file but the last is full.
    for (const name of kept.slice(0, -1)) {
      assert.equal(readFileSync(join(dir, name)).length, 24 + PER_FILE * (16 + FRAME_BYTES));
    }
    assert.ok(stats.pcap);
    assert.deepEqual(
      { ...stats.pcap },
      {
        path: output,
        writtenPackets: PACKETS,
        writtenBytes: FILES * 24 + PACKETS * (16 + FRAME_BYTES),
        files: FILES,
        removedFiles: FILES - MAX_FILES,
        removeFailures: 0,
        error: undefined,
        removeError: undefined,
      },
    );
  }),
);

test(
  'an old file the user already deleted is not an error and is not counted as removed',
  { timeout: 60_000 },
  withDir(async (dir) => {
    const input = join(dir, 'input.pcap');
    generateInput(input);
    const output = join(dir, 'out.pcap');
    let deleted = false;
    const stats = await replayWriting(input, output, (index) => {
      // Packet 0 is in the first file, which exists from the start: the user removes it long
      // before the writer would (when it opens file number 3).
      if (index === 0) {
        unlinkSync(output);
        deleted = true;
      }
    });
    assert.ok(deleted);
    const kept = Array.from({ length: MAX_FILES }, (_, i) =>
      fileName('out.pcap', FILES - MAX_FILES + i),
    );
    assert.deepEqual(readdirSync(dir).sort(), ['input.pcap', ...kept].sort());
    assert.ok(stats.pcap);
    assert.equal(stats.pcap.writtenPackets, PACKETS);
    assert.equal(stats.pcap.files, FILES);
    assert.equal(stats.pcap.removedFiles, FILES - MAX_FILES - 1);
    assert.equal(stats.pcap.removeFailures, 0);
    assert.equal(stats.pcap.removeError, undefined);
    assert.equal(stats.pcap.error, undefined);
  }),
);

test(
  'an old file that cannot be deleted is counted and reported, and writing goes on',
  { timeout: 60_000 },
  withDir(async (dir) => {
    const input = join(dir, 'input.pcap');
    generateInput(input);
    const output = join(dir, 'out.pcap');
    const blocked = `${output}.1`;
    let replaced = false;
    const stats = await replayWriting(input, output, (index) => {
      // Halfway through file number 2, file number 1 is closed; replace it with a directory,
      // which unlink(2) refuses (EISDIR), before the writer opens file 4 and deletes file 1.
      if (index === 2 * PER_FILE + Math.floor(PER_FILE / 2)) {
        assert.ok(existsSync(blocked));
        unlinkSync(blocked);
        mkdirSync(blocked);
        replaced = true;
      }
    });
    assert.ok(replaced);
    assert.ok(stats.pcap);
    assert.equal(stats.pcap.writtenPackets, PACKETS, 'writing went on');
    assert.equal(stats.pcap.files, FILES);
    assert.equal(stats.pcap.removedFiles, FILES - MAX_FILES - 1);
    assert.equal(stats.pcap.removeFailures, 1);
    assert.equal(stats.pcap.removeError, `cannot remove old pcap file ${blocked}: Is a directory`);
    assert.equal(stats.pcap.error, undefined);
    const kept = Array.from({ length: MAX_FILES }, (_, i) =>
      fileName('out.pcap', FILES - MAX_FILES + i),
    );
    assert.deepEqual(readdirSync(dir).sort(), ['input.pcap', 'out.pcap.1', ...kept].sort());
  }),
);
