// Real server shapes (test/helpers/servers.py) for e2e tests and benchmarks: start one in a
// namespace, load it with short and long connections from another, and read back what each
// serving process itself counted (the ground truth of who moved which bytes).

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertTestAddress } from './netns.js';
import type { SpawnedChild, TestNet } from './netns.js';

/** How the server holds its sockets (see servers.py). */
export type ServerMode = 'prefork' | 'forkper' | 'reuseport' | 'scm' | 'activation' | 'threads';

/** What one serving process counted. */
export interface ServerTruth {
  readonly pid: number;
  receivedBytes: number;
  sentBytes: number;
  connections: number;
  /** Thread ids that served its connections. */
  readonly threadIds: Set<number>;
  /** Each connection it served: its ends and payload bytes. */
  readonly connectionReports: ServedConnection[];
}

/** One connection as its serving process saw it. */
export interface ServedConnection {
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly receivedBytes: number;
  readonly sentBytes: number;
}

/** A running server. */
export interface RunningServer {
  readonly child: SpawnedChild;
  readonly port: number;
  /** Processes that hold the socket and never serve (master, acceptor, activator). */
  readonly idlePids: number[];
  /** SIGTERM the server (it stops its own children) and wait for it to exit. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5000;

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}

/** Path of servers.py (found from the package root: works from src/ and from dist/). */
export const SERVERS_SCRIPT = join(packageRoot(), 'test', 'helpers', 'servers.py');

function waitExit(child: SpawnedChild, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Start a server of `mode` on `address` (port chosen by the kernel) in namespace `ns`; its
 * serving processes append their counts to `results`. `workers`: pre-fork and SO_REUSEPORT
 * group size.
 */
export async function startServer(
  net: TestNet,
  ns: string | undefined,
  mode: ServerMode,
  address: string,
  results: string,
  workers: number,
): Promise<RunningServer> {
  assertTestAddress(address);
  const child = net.spawnIn(ns, 'python3', [
    SERVERS_SCRIPT,
    'serve',
    mode,
    address,
    results,
    String(workers),
  ]);
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    if (!(await waitExit(child, STOP_TIMEOUT_MS))) child.kill('SIGKILL');
  };
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new Error(`${mode} server not ready in ${READY_TIMEOUT_MS} ms`)),
        READY_TIMEOUT_MS,
      );
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const end = out.indexOf('\n');
        if (end >= 0) {
          clearTimeout(timer);
          resolve(out.slice(0, end));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${mode} server exited with ${String(code)} before it was ready`));
      });
    });
    const [word, port, ...idle] = line.trim().split(/\s+/);
    if (word !== 'READY') throw new Error(`${mode} server said ${JSON.stringify(line)}`);
    return { child, port: Number(port), idlePids: idle.map(Number), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Load of {@link runServerClients}. */
export interface ClientLoad {
  /** Short connections (a 2 KB request, a 20 KB reply) started per second. */
  shortPerSecond: number;
  /** How long short connections are started for. */
  seconds: number;
  /** Long connections at the start (200 KB sent over 2 s, then a 300 KB reply). */
  longConnections: number;
}

/** Run the client in namespace `ns` until it is done; returns its counts. */
export async function runServerClients(
  net: TestNet,
  ns: string | undefined,
  address: string,
  port: number,
  load: ClientLoad,
): Promise<{ short: number; long: number; failed: number }> {
  assertTestAddress(address);
  const child = net.spawnIn(ns, 'python3', [
    SERVERS_SCRIPT,
    'client',
    address,
    String(port),
    String(load.shortPerSecond),
    String(load.seconds),
    String(load.longConnections),
  ]);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const boundMs = (load.seconds + 30) * 1000;
  if (!(await waitExit(child, boundMs))) {
    child.kill('SIGKILL');
    throw new Error(`client did not finish within ${boundMs} ms`);
  }
  return JSON.parse(out.trim()) as { short: number; long: number; failed: number };
}

/** Per-pid totals from a results file ("pid received sent tid" lines). */
export function readServerTruth(results: string): Map<number, ServerTruth> {
  const truth = new Map<number, ServerTruth>();
  const text = existsSync(results) ? readFileSync(results, 'utf8') : '';
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    const [pid, received, sent, tid] = fields.slice(0, 4).map(Number);
    if (pid === undefined || received === undefined || sent === undefined || !(pid > 0)) continue;
    let t = truth.get(pid);
    if (t === undefined) {
      t = {
        pid,
        receivedBytes: 0,
        sentBytes: 0,
        connections: 0,
        threadIds: new Set(),
        connectionReports: [],
      };
      truth.set(pid, t);
    }
    t.receivedBytes += received;
    t.sentBytes += sent;
    t.connections++;
    if (tid !== undefined && tid > 0) t.threadIds.add(tid);
    const [localAddress, localPort, remoteAddress, remotePort] = fields.slice(4);
    if (remoteAddress !== undefined) {
      t.connectionReports.push({
        localAddress: localAddress ?? '',
        localPort: Number(localPort),
        remoteAddress,
        remotePort: Number(remotePort),
        receivedBytes: received,
        sentBytes: sent,
      });
    }
  }
  return truth;
}
