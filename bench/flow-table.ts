// Flow-table micro-benchmark (no privileges): CPU nanoseconds per record of FlowTable.ingest() +
// drain() on fixed synthetic batches of 4,096 UDP records, as the addon hands them over. Cases: one
// flow (a flood), 64 and 4,096 interleaved flows, and the same one-flow batch at a misaligned
// offset (the aligned-copy path). Prints medians of RUNS runs and each case's ratio to the
// one-flow aligned case measured in the same run.

import { FlowTable } from '../src/monitor/flow-table.js';
import { buildBatch } from '../test/helpers/record-builder.js';
import type { PacketDescription } from '../test/helpers/record-builder.js';

const BATCH_RECORDS = 4096;
const RUNS = Number(process.env['BENCH_RUNS'] ?? 7);
const RECORDS_PER_RUN = 2_000_000;

interface Case {
  name: string;
  flows: number;
  byteOffset: number;
}

const CASES: Case[] = [
  { name: 'one flow (flood)', flows: 1, byteOffset: 0 },
  { name: '64 interleaved flows', flows: 64, byteOffset: 0 },
  { name: '4,096 interleaved flows', flows: 4096, byteOffset: 0 },
  { name: 'one flow, batch at byte offset 2 (copied)', flows: 1, byteOffset: 2 },
];

function batchFor(flows: number, byteOffset: number): DataView {
  const packets: PacketDescription[] = Array.from({ length: BATCH_RECORDS }, (_, i) => ({
    protocol: 17,
    src: '198.18.0.2',
    sport: 1024 + (i % flows),
    dst: '198.18.0.1',
    dport: 5000,
    payloadLen: 64,
    tsMs: 1_700_000_000_000 + i / 100,
  }));
  const built = buildBatch(packets);
  const bytes = new Uint8Array(byteOffset + built.view.byteLength);
  bytes.set(new Uint8Array(built.view.buffer, 0, built.view.byteLength), byteOffset);
  return new DataView(bytes.buffer, byteOffset, built.view.byteLength);
}

function nsPerRecord(c: Case): number {
  const view = batchFor(c.flows, c.byteOffset);
  const table = new FlowTable({ maxFlows: 100_000, protocols: [6, 17] });
  let packets = 0;
  const emit = (_flow: unknown, counters: { packets: number }): void => {
    packets += counters.packets;
  };
  // Warm-up: let V8 optimise ingest before timing.
  for (let i = 0; i < 50; i++) {
    table.ingest(view, BATCH_RECORDS);
    table.drain(emit, () => undefined);
  }
  const batches = Math.ceil(RECORDS_PER_RUN / BATCH_RECORDS);
  const samples: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const start = process.cpuUsage();
    for (let i = 0; i < batches; i++) {
      table.ingest(view, BATCH_RECORDS);
      table.drain(emit, () => undefined);
    }
    const used = process.cpuUsage(start);
    samples.push(((used.user + used.system) * 1000) / (batches * BATCH_RECORDS));
  }
  if (packets !== (50 + RUNS * batches) * BATCH_RECORDS) {
    throw new Error(`flow table summed ${packets} packets, expected more: benchmark broken`);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] ?? Number.NaN;
}

function main(): void {
  const results = CASES.map((c) => ({ c, ns: nsPerRecord(c) }));
  const base = results[0]?.ns ?? Number.NaN;
  const lines = [
    `flow-table benchmark: ingest + drain, ${BATCH_RECORDS}-record batches, medians of ${RUNS} runs of ${RECORDS_PER_RUN.toLocaleString('en-US')} records, Node ${process.version}`,
    '| case | CPU ns per record | vs one flow |',
    '|---|---|---|',
    ...results.map(({ c, ns }) => `| ${c.name} | ${ns.toFixed(1)} | ${(ns / base).toFixed(2)} |`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

main();
