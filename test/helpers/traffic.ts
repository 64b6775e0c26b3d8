// Known-traffic generators for e2e tests and benchmarks: each role runs in its own child
// process (traffic-worker.ts, or a bash loop for the many-process case) so its pid is known,
// and each reports the endpoints and payload bytes of every socket it used.

import type { ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertTestAddress } from './netns.js';
import type { SpawnedChild, TestNet } from './netns.js';
import type {
  SocketReport,
  TcpClientSpec,
  TcpServerSpec,
  UdpClientSpec,
  UdpServerSpec,
  WorkerReport,
  WorkerSpec,
} from './traffic-types.js';

export type * from './traffic-types.js';

/** What a worker prints once it listens. */
export interface ReadyMessage {
  type: 'ready';
  pid: number;
  /** TCP server: the listening port. */
  port?: number;
  /** UDP server: the bound ports. */
  ports?: number[];
}

/** A running worker. */
export interface Worker {
  readonly pid: number;
  readonly child: SpawnedChild;
  /** Resolves when a server listens (clients resolve it right away with their pid). */
  readonly ready: Promise<ReadyMessage>;
  /** Resolves with the final report; rejects when the worker dies without one. */
  readonly report: Promise<WorkerReport>;
  /** Let a lingering worker exit (closes its stdin). */
  release(): void;
}

/** The folder holding package.json, found by walking up from this file (works from dist/ too). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`package.json not found above ${fileURLToPath(import.meta.url)}`);
}

/**
 * How to start a node script of this package given by its path from the root without extension
 * (`test/helpers/traffic-worker`): the compiled copy in dist/ when running compiled or when it is
 * up to date, else the .ts source through tsx (development only).
 */
export function nodeScriptCommand(relativePath: string): { cmd: string; args: string[] } {
  const root = packageRoot();
  const source = join(root, `${relativePath}.ts`);
  const compiled = join(root, 'dist', `${relativePath}.js`);
  const runningCompiled = fileURLToPath(import.meta.url).endsWith('.js');
  if (
    existsSync(compiled) &&
    (runningCompiled ||
      !existsSync(source) ||
      statSync(compiled).mtimeMs >= statSync(source).mtimeMs)
  ) {
    return { cmd: process.execPath, args: [compiled] };
  }
  if (runningCompiled) throw new Error(`${compiled} is missing: run npm run build`);
  return { cmd: process.execPath, args: ['--import', 'tsx', source] };
}

function specAddresses(spec: WorkerSpec): string[] {
  const list = [spec.address];
  if (spec.role === 'udp-client' && spec.bindAddress !== undefined) list.push(spec.bindAddress);
  if (spec.role === 'udp-server' && spec.connectTo !== undefined) {
    list.push(spec.connectTo.address);
  }
  return list;
}

/**
 * The ready and report messages of a traffic worker, read from its stdout (one JSON object a
 * line). Clients are ready at once (`clientReadyPid`); both promises reject with `exitMessage`
 * when the child exits before sending them.
 */
export function workerMessages(
  child: ChildProcess,
  spec: WorkerSpec,
  clientReadyPid: number,
  exitMessage: (exit: string | number | null) => string,
): { ready: Promise<ReadyMessage>; report: Promise<WorkerReport> } {
  let resolveReady!: (m: ReadyMessage) => void;
  let resolveReport!: (r: WorkerReport) => void;
  let rejectAll!: (e: Error) => void;
  const ready = new Promise<ReadyMessage>((res, rej) => {
    resolveReady = res;
    rejectAll = rej;
  });
  let rejectReport!: (e: Error) => void;
  const report = new Promise<WorkerReport>((res, rej) => {
    resolveReport = res;
    rejectReport = rej;
  });
  // Avoid unhandled rejections when a caller awaits only one of the two.
  ready.catch(() => undefined);
  report.catch(() => undefined);
  if (spec.role === 'tcp-client' || spec.role === 'udp-client') {
    resolveReady({ type: 'ready', pid: clientReadyPid });
  }
  let buffered = '';
  let gotReport = false;
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (text: string) => {
    buffered += text;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      let message: { type?: string };
      try {
        message = JSON.parse(line) as { type?: string };
      } catch {
        continue;
      }
      if (message.type === 'ready') resolveReady(message as ReadyMessage);
      if (message.type === 'report') {
        gotReport = true;
        resolveReport(message as WorkerReport);
      }
    }
  });
  child.stdin?.on('error', () => undefined);
  child.once('exit', (code, signal) => {
    const error = new Error(exitMessage(signal ?? code));
    rejectAll(error);
    if (!gotReport) rejectReport(error);
  });
  return { ready, report };
}

/** Start one worker in namespace `ns` (undefined: the host) of `net`. */
export function startWorker(net: TestNet, ns: string | undefined, spec: WorkerSpec): Worker {
  for (const address of specAddresses(spec)) assertTestAddress(address);
  const { cmd, args } = nodeScriptCommand('test/helpers/traffic-worker');
  const child = net.spawnIn(ns, cmd, [...args, JSON.stringify(spec)]);
  const { ready, report } = workerMessages(
    child,
    spec,
    child.pid,
    (exit) => `traffic worker ${spec.role} (pid ${child.pid}) exited with ${exit} before reporting`,
  );
  return {
    pid: child.pid,
    child,
    ready,
    report,
    release: () => {
      child.stdin?.end();
    },
  };
}

/** A TCP server worker; resolves once it listens, with its port. */
export async function startTcpServer(
  net: TestNet,
  ns: string | undefined,
  spec: Omit<TcpServerSpec, 'role'>,
): Promise<Worker & { port: number }> {
  const worker = startWorker(net, ns, { role: 'tcp-server', ...spec });
  const ready = await worker.ready;
  return Object.assign(worker, { port: ready.port ?? 0 });
}

export function startTcpClient(
  net: TestNet,
  ns: string | undefined,
  spec: Omit<TcpClientSpec, 'role'>,
): Worker {
  return startWorker(net, ns, { role: 'tcp-client', ...spec });
}

/** A UDP server worker; resolves once its sockets are bound, with their ports. */
export async function startUdpServer(
  net: TestNet,
  ns: string | undefined,
  spec: Omit<UdpServerSpec, 'role'>,
): Promise<Worker & { ports: number[] }> {
  const worker = startWorker(net, ns, { role: 'udp-server', ...spec });
  const ready = await worker.ready;
  return Object.assign(worker, { ports: ready.ports ?? [] });
}

export function startUdpClient(
  net: TestNet,
  ns: string | undefined,
  spec: Omit<UdpClientSpec, 'role'>,
): Worker {
  return startWorker(net, ns, { role: 'udp-client', ...spec });
}

/** Options of {@link startTrickleClients}. */
export interface TrickleOptions {
  count: number;
  address: string;
  port: number;
  /** Payload bytes per write (1..4096). */
  chunkBytes: number;
  /** Writes per connection. */
  chunks: number;
  intervalMs: number;
  /** After the last write, wait for stdin to close at most this long, seconds. */
  lingerSeconds: number;
}

/**
 * Start `count` bash processes, each with one TCP connection that first sends its pid on a
 * line (so the server's report names it), then `chunks` writes of `chunkBytes` spaced by
 * `intervalMs`. bash (about 3 MB each) instead of node (about 40 MB) keeps 200 of them cheap;
 * /dev/tcp, printf and `read -t` are builtins, so no other process ever holds the socket.
 */
export function startTrickleClients(
  net: TestNet,
  ns: string | undefined,
  options: TrickleOptions,
): SpawnedChild[] {
  assertTestAddress(options.address);
  const chunk = 'x'.repeat(Math.max(1, Math.min(4096, options.chunkBytes)));
  const waitSeconds = (options.intervalMs / 1000).toFixed(3);
  const script = [
    'exec 3<>"/dev/tcp/$1/$2" || exit 1',
    "printf '%s\\n' $$ >&3",
    'i=0',
    'while [ $i -lt "$3" ]; do printf "%s" "$4" >&3; read -r -t "$5" _ 2>/dev/null; i=$((i+1)); done',
    'exec 3>&-',
    'read -r -t "$6" _ 2>/dev/null',
    'exit 0',
  ].join('\n');
  const children: SpawnedChild[] = [];
  for (let i = 0; i < options.count; i++) {
    children.push(
      net.spawnIn(
        ns,
        'bash',
        [
          // bash reads ~/.bashrc even with -c when stdin is a socket (it assumes rshd), and Node's
          // stdio pipes are socketpairs: --norc keeps each client's start cheap and predictable.
          '--norc',
          '--noprofile',
          '-c',
          script,
          'trickle',
          options.address,
          String(options.port),
          String(options.chunks),
          chunk,
          waitSeconds,
          String(options.lingerSeconds),
        ],
        { stdio: ['pipe', 'ignore', 'inherit'] },
      ),
    );
  }
  return children;
}

/**
 * Reports for shell clients, rebuilt from the server's view of each connection (the client's
 * local endpoint is the server's remote one, and its pid came on the first line).
 */
export function reportsFromPeerPids(server: WorkerReport): WorkerReport[] {
  const out: WorkerReport[] = [];
  for (const s of server.sockets) {
    if (s.peerPid === undefined || s.remoteAddress === null) continue;
    const socket: SocketReport = {
      protocol: s.protocol,
      localAddress: s.remoteAddress,
      localPort: s.remotePort,
      remoteAddress: s.localAddress,
      remotePort: s.localPort,
      sentPayloadBytes: s.receivedPayloadBytes,
      receivedPayloadBytes: s.sentPayloadBytes,
      sentDatagrams: 0,
      receivedDatagrams: 0,
    };
    out.push({
      type: 'report',
      pid: s.peerPid,
      role: 'tcp-client',
      elapsedMs: 0,
      sockets: [socket],
    });
  }
  return out;
}

/** Wait for a child to exit, at most `timeoutMs`. */
export function waitForExit(child: SpawnedChild, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolveWait) => {
    const timer = setTimeout(resolveWait, timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolveWait();
    });
  });
}

/** Resolve a path inside the package root. */
export function fromRoot(...parts: string[]): string {
  return resolve(packageRoot(), ...parts);
}
