// `npm run bench` (as root): accuracy and cost of pidflow against nethogs on fixed workloads in a
// veth/namespace test net, scored against tcpdump, the traffic workers' own counts and interface
// counters. Options: --runs N (default 3), --quick (one run), --only <text> (scenarios whose
// name has it), --no-memory (skip the 100,000-flow case).

import { readFileSync } from 'node:fs';
import { availableParallelism, release } from 'node:os';
import { parseArgs } from 'node:util';
import { runScenario } from './lib/run-scenario.js';
import type { RunResult } from './lib/run-scenario.js';
import { MEMORY_SCENARIO, SCENARIOS } from './lib/scenarios.js';

function median(values: readonly number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? 0)
    : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

const pct = (v: number): string => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : 'n/a');
const sec = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : 'n/a');
const mb = (v: number): string => (Number.isFinite(v) ? (v / (1 << 20)).toFixed(0) : 'n/a');
const ratio = (a: number, b: number): string =>
  Number.isFinite(a) && Number.isFinite(b) && b > 0 ? (a / b).toFixed(2) : 'n/a';

function machine(): string {
  let os = 'Linux';
  try {
    os = /^PRETTY_NAME="?([^"\n]*)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os;
  } catch {
    // Keep the generic name.
  }
  return `${availableParallelism()} cores, ${os}, kernel ${release()}, Node ${process.version}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      'no-memory': { type: 'boolean', default: false },
    },
  });
  if (process.getuid?.() !== 0) {
    process.stderr.write(
      'error: the benchmark creates network namespaces and captures packets: run it as root\n',
    );
    process.exitCode = 1;
    return;
  }
  const runs = values.quick ? 1 : Number.parseInt(values.runs, 10);
  if (!Number.isInteger(runs) || runs < 1 || runs > 20) {
    process.stderr.write(`error: --runs must be an integer 1..20, got ${values.runs}\n`);
    process.exitCode = 2;
    return;
  }
  const scenarios = [...SCENARIOS, ...(values['no-memory'] ? [] : [MEMORY_SCENARIO])].filter(
    (s) => values.only === undefined || s.name.includes(values.only),
  );
  process.stdout.write(
    `pidflow accuracy benchmark: ${machine()}, ${runs} run(s) per scenario, medians\n\n`,
  );
  const rows: string[] = [
    '| scenario | right process: pidflow | nethogs | mean abs error: pidflow | nethogs | unknown: pidflow | nethogs | CPU s: pidflow | nethogs | CPU ratio | peak RSS MB: pidflow | nethogs | pidflow incl. namespace side | truth |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const scenario of scenarios) {
    const results: RunResult[] = [];
    for (let i = 0; i < runs; i++) {
      try {
        const r = await runScenario(scenario);
        results.push(r);
        process.stderr.write(
          `${scenario.name} run ${i + 1}: pidflow ${pct(r.pidflow.rightShare)} cpu ${sec(r.pidflow.cpuSeconds)} s rss ${mb(r.pidflow.peakRssBytes)} MB, ` +
            `nethogs ${pct(r.nethogs?.rightShare ?? Number.NaN)} cpu ${sec(r.nethogs?.cpuSeconds ?? Number.NaN)} s, ` +
            `${r.truthPackets} packets in ${r.trafficMs} ms, reference dropped ${r.referenceDropped}, pidflow kernel dropped ${r.pidflowKernelDropped}, queue dropped ${r.pidflowQueueDropped}\n`,
        );
      } catch (error) {
        process.stderr.write(
          `${scenario.name} run ${i + 1} failed: ${error instanceof Error ? error.message : String(error)}\n`,
        );
      }
    }
    if (results.length === 0) {
      rows.push(`| ${scenario.name} | failed | | | | | | | | | | | | |`);
      continue;
    }
    const m = (f: (r: RunResult) => number): number => median(results.map(f));
    const nan = Number.NaN;
    const pCpu = m((r) => r.pidflow.cpuSeconds);
    const nCpu = m((r) => r.nethogs?.cpuSeconds ?? nan);
    rows.push(
      `| ${scenario.name} | ${pct(m((r) => r.pidflow.rightShare))} | ${pct(m((r) => r.nethogs?.rightShare ?? nan))} | ` +
        `${pct(m((r) => r.pidflow.meanAbsError))} | ${pct(m((r) => r.nethogs?.meanAbsError ?? nan))} | ` +
        `${pct(m((r) => r.pidflow.unknownShare))} | ${pct(m((r) => r.nethogs?.unknownShare ?? nan))} | ` +
        `${sec(pCpu)} | ${sec(nCpu)} | ${ratio(pCpu, nCpu)} | ` +
        `${mb(m((r) => r.pidflow.peakRssBytes))} | ${mb(m((r) => r.nethogs?.peakRssBytes ?? nan))} | ` +
        `${pct(m((r) => r.pidflowAllRightShare))} | ${results[0]?.truthSource ?? ''} |`,
    );
  }
  process.stdout.write(rows.join('\n') + '\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
