// A real Docker engine (Debian's docker.io) for end-to-end tests: started with its own data
// root, exec root, pidfile and socket in a temp dir, addresses inside 198.18.0.0/15 only (bip
// 198.19.7.1/24, address pools from 198.19.8.0/21), an image imported from an empty root with
// the host's /usr mounted read-only (no registry). stop() ends the daemon by its pid and leaves
// the host as it was: iptables rules and chains the engine added are deleted one by one, the
// FORWARD policy, ip_forward and docker0 restored.

import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot, workerMessages } from './traffic.js';
import type { ReadyMessage, WorkerReport, WorkerSpec } from './traffic.js';

const START_LIMIT_MS = 40_000;
const STOP_LIMIT_MS = 15_000;
const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';
export const DOCKER_BRIDGE_ADDRESS = '198.19.7.1';
export const TEST_IMAGE = 'pidflow-test:1';

/** Why the engine cannot run here, or false. */
export function dockerSkipReason(): string | false {
  for (const tool of ['dockerd', 'docker', 'containerd', 'runc', 'iptables']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `[no-docker] ${tool} is not installed (scripts/setup-test.sh installs docker.io and iptables)`;
    }
  }
  if (existsSync('/var/run/docker.pid') || existsSync('/run/docker.pid')) {
    return '[docker-running] a Docker engine already runs on this host: the test would share docker0 and its iptables chains';
  }
  return false;
}

function iptablesRules(table: string): string[] {
  return execFileSync('iptables', ['-w', '5', '-t', table, '-S'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.length > 0);
}

/** A container started from the test image, with the traffic worker as its first process. */
export interface ContainerWorker {
  readonly name: string;
  /** Host pid of the worker (the container's init). */
  readonly pid: Promise<number>;
  readonly ready: Promise<ReadyMessage>;
  readonly report: Promise<WorkerReport>;
  readonly child: ChildProcess;
  release(): void;
}

/** A running engine. */
export interface DockerEngine {
  readonly socket: string;
  readonly dataRoot: string;
  docker(args: readonly string[]): string;
  /**
   * Start the traffic worker in a new container (`docker run -i`), host /usr and the package
   * mounted read-only; a spec address `eth0` means the container's own address.
   */
  runWorker(name: string, spec: WorkerSpec, runArgs?: readonly string[]): ContainerWorker;
  /** Host-side veth of a running container (its peer on docker0). */
  hostVeth(name: string): string;
  stop(): Promise<void>;
}

/** Start the engine; throws (after cleaning up) when it does not come up. */
export async function startDockerEngine(): Promise<DockerEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'pfe-docker-'));
  const socket = join(dir, 'docker.sock');
  const dataRoot = join(dir, 'data');
  const before = {
    filter: iptablesRules('filter'),
    nat: iptablesRules('nat'),
    ipForward: readFileSync(IP_FORWARD, 'utf8').trim(),
    hadDocker0: existsSync('/sys/class/net/docker0'),
  };
  writeFileSync(
    join(dir, 'daemon.json'),
    JSON.stringify({
      bip: `${DOCKER_BRIDGE_ADDRESS}/24`,
      'default-address-pools': [{ base: '198.19.8.0/21', size: 24 }],
      'userland-proxy': false,
      ipv6: false,
      'storage-driver': 'vfs',
      'log-driver': 'none',
    }),
  );
  let stderr = '';
  const daemon = spawn(
    'dockerd',
    [
      '--config-file',
      join(dir, 'daemon.json'),
      '--data-root',
      dataRoot,
      '--exec-root',
      join(dir, 'exec'),
      '--pidfile',
      join(dir, 'docker.pid'),
      '-H',
      `unix://${socket}`,
      '--containerd-namespace',
      'pidflow-test',
      '--containerd-plugins-namespace',
      'pidflow-test-plugins',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  daemon.stderr?.setEncoding('utf8');
  daemon.stderr?.on('data', (t: string) => {
    stderr = (stderr + t).slice(-4000);
  });
  const docker = (args: readonly string[]): string =>
    execFileSync('docker', ['-H', `unix://${socket}`, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    });
  let isStopped = false;
  const stop = async (): Promise<void> => {
    if (isStopped) return;
    isStopped = true;
    try {
      docker(['rm', '-f', ...docker(['ps', '-aq']).split('\n').filter(Boolean)]);
    } catch {
      // No containers, or the daemon is already gone.
    }
    if (daemon.exitCode === null && daemon.signalCode === null) {
      const exited = new Promise<void>((r) => daemon.once('exit', () => r()));
      daemon.kill('SIGTERM');
      const timer = setTimeout(() => daemon.kill('SIGKILL'), STOP_LIMIT_MS);
      await exited;
      clearTimeout(timer);
    }
    restoreHost(before);
    // The engine leaves its exec root's namespace bind mount (exec/netns/default) behind.
    unmountUnder(dir);
    // vfs layers and container state: plain files, removed with the temp dir.
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + START_LIMIT_MS;
    for (;;) {
      try {
        docker(['version', '--format', '{{.Server.Version}}']);
        break;
      } catch {
        if (daemon.exitCode !== null || Date.now() > deadline) {
          throw new Error(`dockerd did not start within ${START_LIMIT_MS} ms: ${stderr}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    // An empty root whose /bin, /lib... point into /usr, which each container mounts read-only.
    const root = join(dir, 'image-root');
    mkdirSync(root);
    for (const d of ['bin', 'lib', 'lib64', 'sbin']) symlinkSync(`usr/${d}`, join(root, d));
    for (const d of ['usr', 'tmp', 'etc', 'proc', 'sys', 'dev']) mkdirSync(join(root, d));
    execFileSync('sh', [
      '-c',
      `tar -C "$1" -c . | docker -H "unix://$2" import - "$3" >/dev/null`,
      'import',
      root,
      socket,
      TEST_IMAGE,
    ]);
  } catch (error) {
    await stop();
    throw error;
  }
  const pkg = packageRoot();
  return {
    socket,
    dataRoot,
    docker,
    stop,
    hostVeth: (name: string): string => {
      // The container's eth0 names its peer's ifindex (`eth0@if1310`); sysfs would show the
      // host's own devices under nsenter -n, `ip` asks the namespace's netlink.
      const pid = docker(['inspect', '-f', '{{.State.Pid}}', name]).trim();
      const own = execFileSync('nsenter', ['-t', pid, '-n', 'ip', '-o', 'link', 'show', 'eth0'], {
        encoding: 'utf8',
      });
      const iflink = /@if(\d+)/.exec(own)?.[1];
      const line = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' })
        .split('\n')
        .find((l) => l.startsWith(`${iflink}: `));
      const device = line?.split(': ')[1]?.split('@')[0];
      if (device === undefined) throw new Error(`no host veth with ifindex ${iflink} for ${name}`);
      return device;
    },
    runWorker: (name, spec, runArgs = []) =>
      runContainerWorker(socket, pkg, name, spec, runArgs, docker),
  };
}

function runContainerWorker(
  socket: string,
  pkg: string,
  name: string,
  spec: WorkerSpec,
  runArgs: readonly string[],
  docker: (args: readonly string[]) => string,
): ContainerWorker {
  const child = spawn(
    'docker',
    [
      '-H',
      `unix://${socket}`,
      'run',
      '--rm',
      '-i',
      '--name',
      name,
      '-v',
      '/usr:/usr:ro',
      '-v',
      `${pkg}:${pkg}:ro`,
      ...runArgs,
      TEST_IMAGE,
      process.execPath,
      join(pkg, 'dist', 'test', 'helpers', 'container-worker.js'),
      JSON.stringify(spec),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const { ready, report } = workerMessages(
    child,
    spec,
    0,
    (exit) => `container ${name} exited with ${exit} before reporting`,
  );
  // The worker's pid in the container is 1; the host pid comes from the engine.
  const pid = (async (): Promise<number> => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      try {
        const text = docker(['inspect', '-f', '{{.State.Pid}}', name]).trim();
        const value = Number(text);
        if (value > 0) return value;
      } catch {
        // Not created yet.
      }
      if (Date.now() > deadline) throw new Error(`container ${name} did not start`);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  pid.catch(() => undefined);
  const withHostPid = report.then(async (r) => ({ ...r, pid: await pid }));
  withHostPid.catch(() => undefined);
  return {
    name,
    pid,
    ready,
    report: withHostPid,
    child,
    release: () => child.stdin?.end(),
  };
}

/** Lazily unmount everything mounted under `dir` (deepest first). */
function unmountUnder(dir: string): void {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => m !== undefined && m.startsWith(`${dir}/`))
    .sort()
    .reverse();
  for (const m of mounts) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    } catch {
      // Already gone.
    }
  }
}

function restoreHost(before: {
  filter: string[];
  nat: string[];
  ipForward: string;
  hadDocker0: boolean;
}): void {
  for (const table of ['filter', 'nat'] as const) {
    let now: string[];
    try {
      now = iptablesRules(table);
    } catch {
      continue;
    }
    const had = new Set(before[table]);
    // Rules first (in reverse order), then the chains they jumped to.
    for (const line of now.filter((l) => l.startsWith('-A ') && !had.has(l)).reverse()) {
      const args = line.slice(3).match(/"[^"]*"|\S+/g) ?? [];
      try {
        execFileSync(
          'iptables',
          ['-w', '5', '-t', table, '-D', ...args.map((a) => a.replace(/^"|"$/g, ''))],
          {
            stdio: 'ignore',
          },
        );
      } catch {
        // Gone already.
      }
    }
    for (const line of now.filter((l) => l.startsWith('-N ') && !had.has(l))) {
      const chain = line.slice(3).trim();
      try {
        execFileSync('iptables', ['-w', '5', '-t', table, '-F', chain], { stdio: 'ignore' });
        execFileSync('iptables', ['-w', '5', '-t', table, '-X', chain], { stdio: 'ignore' });
      } catch {
        // Still referenced by a rule someone else added: leave it.
      }
    }
    for (const line of before[table].filter((l) => l.startsWith('-P '))) {
      const [, chain, policy] = line.split(' ');
      if (chain !== undefined && policy !== undefined) {
        execFileSync('iptables', ['-w', '5', '-t', table, '-P', chain, policy], {
          stdio: 'ignore',
        });
      }
    }
  }
  writeFileSync(IP_FORWARD, before.ipForward);
  if (!before.hadDocker0 && existsSync('/sys/class/net/docker0')) {
    execFileSync('ip', ['link', 'del', 'docker0'], { stdio: 'ignore' });
  }
}
