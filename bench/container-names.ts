// Container-name micro-benchmark (no privileges): wall microseconds to name a container seen for
// the first time, per runtime, on a synthetic node of CONTAINERS containers per runtime built
// from the recorded fixture files (docker config.v2.json, containerd CRI bundles with kubelet
// log links, cri-o bundles, a podman containers.json listing all), and a cached lookup. The
// baseline, measured in the same run, is what pidflow already reads for every new process
// (/proc/self stat, status, cgroup, comm, cmdline). Prints medians of RUNS runs and ratios.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainerNames } from '../src/attribute/containers/container-names.js';
import { NodeHostFiles } from '../src/attribute/host-files.js';
import { NodeProcFs } from '../src/attribute/procfs.js';
import type { ContainerRuntime } from '../src/attribute/types.js';
import { containerFixture } from '../test/helpers/fake-procfs.js';

const CONTAINERS = Number(process.env['BENCH_CONTAINERS'] ?? 300);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 7);

const ids = JSON.parse(readFileSync(containerFixture('ids.json'), 'utf8')) as Record<
  string,
  string
>;
const hex = (n: number, salt: number): string =>
  (salt.toString(16) + n.toString(16).padStart(8, '0')).padStart(64, 'a');

function put(root: string, path: string, text: string): void {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), text);
}

function buildNode(root: string): void {
  const docker = readFileSync(
    containerFixture(`docker/var/lib/docker/containers/${ids['dockerWeb']}/config.v2.json`),
    'utf8',
  );
  const cri = readFileSync(
    containerFixture(
      `containerd/run/containerd/io.containerd.runtime.v2.task/k8s.io/${ids['coredns']}/config.json`,
    ),
    'utf8',
  );
  const crio = readFileSync(
    containerFixture(
      `crio/run/containers/storage/overlay-containers/${ids['crio']}/userdata/config.json`,
    ),
    'utf8',
  );
  const list: unknown[] = [];
  for (let i = 0; i < CONTAINERS; i++) {
    const d = hex(i, 1);
    put(
      root,
      `var/lib/docker/containers/${d}/config.v2.json`,
      docker.replaceAll(ids['dockerWeb']!, d),
    );
    const c = hex(i, 2);
    put(root, `run/containerd/io.containerd.runtime.v2.task/k8s.io/${c}/config.json`, cri);
    mkdirSync(join(root, 'var/log/containers'), { recursive: true });
    symlinkSync('/nowhere', join(root, `var/log/containers/pod-${i}_ns_app-${c}.log`));
    const o = hex(i, 3);
    put(root, `run/containers/storage/overlay-containers/${o}/userdata/config.json`, crio);
    const p = hex(i, 4);
    list.push({
      id: p,
      names: [`podman-${i}`],
      image: 'f'.repeat(64),
      layer: 'e'.repeat(64),
      metadata: JSON.stringify({
        'image-name': 'docker.io/library/alpine:3.20',
        name: `podman-${i}`,
      }),
      created: '2026-12-04T09:20:00.545266929Z',
      flags: { MountLabel: '' },
    });
  }
  put(root, 'var/lib/containers/storage/overlay-containers/containers.json', JSON.stringify(list));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Microseconds per call of `fn(i)` over CONTAINERS calls. */
function time(fn: (i: number) => void): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < CONTAINERS; i++) fn(i);
  return Number(process.hrtime.bigint() - start) / 1000 / CONTAINERS;
}

const root = mkdtempSync(join(tmpdir(), 'pidflow-bench-names-'));
try {
  buildNode(root);
  const files = new NodeHostFiles(root);
  const procFs = new NodeProcFs();
  const cases: [string, ContainerRuntime, number][] = [
    ['docker (config.v2.json)', 'docker', 1],
    ['containerd CRI (bundle + kubelet links)', 'containerd', 2],
    ['cri-o (bundle)', 'crio', 3],
    [`podman (containers.json, ${CONTAINERS} entries)`, 'podman', 4],
  ];
  const results = new Map<string, number[]>();
  const add = (name: string, us: number): void => {
    results.set(name, [...(results.get(name) ?? []), us]);
  };
  for (let r = 0; r < RUNS; r++) {
    add(
      'baseline: /proc reads of one new process',
      time(() => {
        for (const f of ['stat', 'status', 'cgroup', 'comm', 'cmdline'])
          procFs.readText(`/proc/self/${f}`);
      }),
    );
    for (const [name, runtime, salt] of cases) {
      const names = new ContainerNames({
        files,
        monotonicMs: () => 0,
        maxContainers: CONTAINERS * 2,
      });
      const lookup = (i: number) => ({ id: hex(i, salt), runtime, cgroupPath: '' });
      add(
        `${name}: first sight`,
        time((i) => names.resolve(lookup(i))),
      );
      add(
        `${name}: cached`,
        time((i) => names.resolve(lookup(i))),
      );
    }
  }
  const baseline = median(results.get('baseline: /proc reads of one new process')!);
  console.log(`container names, ${CONTAINERS} containers per runtime, median of ${RUNS} runs`);
  for (const [name, samples] of results) {
    const m = median(samples);
    console.log(
      `${name.padEnd(62)} ${m.toFixed(1).padStart(8)} us  ${(m / baseline).toFixed(2).padStart(6)}x baseline`,
    );
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
