// Test hosts for end-to-end tests and benchmarks: network namespaces joined by a veth pair,
// addressed inside 198.18.0.0/16 and fd42:6e66::/64 only, torn down even when a test fails.
// Each net holds a slot (a /29 and a /112, and the names derived from it) through a lock the
// kernel arbitrates: an abstract unix socket `pidflow-test-slot-<n>`, bound by one process at
// a time and released when that process exits, so parallel runs and benchmarks never share
// a name or a route, and a crashed run frees its slot by itself.

import { execFile, execFileSync, spawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, isIP, type Server } from 'node:net';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Longest interface name Linux accepts (IFNAMSIZ - 1). */
const MAX_IFNAME_CHARS = 15;
/**
 * Slots are /29 slices of 198.18.0.0/16 (and /112s of fd42:6e66::/64). The first 32 (198.18.0.0/24)
 * are never handed out: tests written before the allocator used fixed addresses there.
 */
const FIRST_SLOT = 32;
const SLOT_COUNT = 8192;
const SLOT_ATTEMPTS = 200;
const COMMAND_TIMEOUT_MS = 10_000;

/** One end of the test link. */
export interface TestHost {
  /** Network namespace name, or undefined for the host's own (root) namespace. */
  readonly ns: string | undefined;
  /** The veth end in this namespace. */
  readonly device: string;
  readonly ipv4: string;
  /** Set when the net was created with `v6: true`. */
  readonly ipv6: string | undefined;
}

/** Options of {@link createTestNet}. */
export interface TestNetOptions {
  /** Name prefix of namespaces and veths (`pfe` for tests, `pfb` for benchmarks); 2..6 chars [a-z0-9]. */
  prefix: string;
  /** Add IPv6 addresses (fd42:6e66::/64, no duplicate address detection). @default false */
  v6?: boolean;
  /** `host`: side `a` is the root namespace; `pair`: both sides get their own namespace. @default 'host' */
  mode?: 'host' | 'pair';
}

/** A spawned child whose pid is the program's own (no shell or wrapper in between). */
export type SpawnedChild = ChildProcess & { readonly pid: number };

/** Two hosts joined by a veth pair, plus the processes started in them. */
export interface TestNet {
  /** Prefix plus a short random suffix; every name this net creates starts with it. */
  readonly id: string;
  /** Side a: the root namespace in `host` mode. */
  readonly a: TestHost;
  /** Side b: always a namespace of its own. */
  readonly b: TestHost;
  /** Run a command in a namespace (undefined: the host) and return its stdout. */
  exec(ns: string | undefined, cmd: string, args?: readonly string[]): Promise<string>;
  /** Start a program in a namespace; the child is tracked and killed by destroy(). */
  spawnIn(
    ns: string | undefined,
    cmd: string,
    args: readonly string[],
    options?: SpawnOptions,
  ): SpawnedChild;
  /** Kill the processes this net started (by pid) and delete its namespaces and links. Idempotent. */
  destroy(): Promise<void>;
}

/**
 * Throw unless `address` lies in 198.18.0.0/15, fd42:6e66::/64 or loopback: the only places
 * tests and benchmarks may send to.
 */
export function assertTestAddress(address: string): void {
  if (!isTestAddress(address)) {
    throw new Error(
      `refusing address ${address}: tests may only use 198.18.0.0/15, fd42:6e66::/64 or loopback`,
    );
  }
}

/** True for 198.18.0.0/15, fd42:6e66::/64, 127.0.0.0/8 and ::1. */
export function isTestAddress(address: string): boolean {
  const version = isIP(address);
  if (version === 4) {
    return (
      address.startsWith('198.18.') || address.startsWith('198.19.') || address.startsWith('127.')
    );
  }
  if (version === 6) {
    const words = expandIpv6(address);
    if (words === undefined) return false;
    if (words.slice(0, 7).every((w) => w === 0) && words[7] === 1) return true;
    return words[0] === 0xfd42 && words[1] === 0x6e66 && words[2] === 0 && words[3] === 0;
  }
  return false;
}

/** The eight 16-bit words of an IPv6 address, or undefined when it does not parse. */
function expandIpv6(address: string): number[] | undefined {
  if (address.includes('.')) return undefined;
  const halves = address.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] === '' || halves[0] === undefined ? [] : halves[0].split(':');
  const tail = halves.length === 2 && halves[1] !== '' ? (halves[1] ?? '').split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  const words = [...head, ...Array<string>(missing).fill('0'), ...tail].map((w) =>
    Number.parseInt(w, 16),
  );
  return words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff) ? words : undefined;
}

const liveNets = new Set<TestNetImpl>();
let handlersInstalled = false;

/** On exit or Ctrl-C, remove whatever nets are still alive (synchronously: the loop is ending). */
function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    for (const net of liveNets) net.destroySync();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const net of liveNets) net.destroySync();
      process.kill(process.pid, signal);
    });
  }
}

class TestNetImpl implements TestNet {
  readonly children = new Set<ChildProcess>();
  readonly namespaces: string[] = [];
  /** The host-side veth was created by this net (only then may destroy delete it). */
  linkCreated = false;
  /** The slot's lock; closed once the links are gone. */
  slotLock: Server | undefined;
  destroyed = false;

  constructor(
    readonly id: string,
    readonly a: TestHost,
    readonly b: TestHost,
  ) {}

  async exec(ns: string | undefined, cmd: string, args: readonly string[] = []): Promise<string> {
    const [file, argv] = wrap(ns, cmd, args);
    const { stdout } = await execFileAsync(file, argv, { timeout: COMMAND_TIMEOUT_MS });
    return stdout;
  }

  spawnIn(
    ns: string | undefined,
    cmd: string,
    args: readonly string[],
    options: SpawnOptions = {},
  ): SpawnedChild {
    if (this.destroyed) throw new Error(`test net ${this.id} is destroyed: cannot spawn ${cmd}`);
    const [file, argv] = wrap(ns, cmd, args);
    // `ip netns exec` setns()es and then execvp()s the program, so the pid is the program's.
    const child = spawn(file, argv, { stdio: ['pipe', 'pipe', 'inherit'], ...options });
    if (child.pid === undefined) throw new Error(`could not spawn ${cmd} in ${ns ?? 'host'}`);
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child as SpawnedChild;
  }

  private killChildren(): void {
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // Already gone between the check and the kill.
        }
      }
    }
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    this.killChildren();
    await Promise.all(
      [...this.children].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) resolve();
            else {
              child.once('exit', () => resolve());
              setTimeout(resolve, 2000).unref();
            }
          }),
      ),
    );
    this.removeLinks();
    this.slotLock?.close();
    this.slotLock = undefined;
    liveNets.delete(this);
  }

  destroySync(): void {
    this.destroyed = true;
    this.killChildren();
    this.removeLinks();
    liveNets.delete(this);
  }

  private removeLinks(): void {
    // Deleting a namespace deletes the veth end in it and so its peer; delete the host end too
    // in case the namespace was never created.
    for (const ns of this.namespaces) runQuiet('ip', ['netns', 'del', ns]);
    if (this.a.ns === undefined && this.linkCreated) runQuiet('ip', ['link', 'del', this.a.device]);
  }
}

function wrap(ns: string | undefined, cmd: string, args: readonly string[]): [string, string[]] {
  return ns === undefined ? [cmd, [...args]] : ['ip', ['netns', 'exec', ns, cmd, ...args]];
}

function run(cmd: string, args: readonly string[]): string {
  try {
    return execFileSync(cmd, args, { timeout: COMMAND_TIMEOUT_MS, encoding: 'utf8' });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`${cmd} ${args.join(' ')} failed: ${stderr.trim() || String(error)}`, {
      cause: error,
    });
  }
}

function runQuiet(cmd: string, args: readonly string[]): void {
  try {
    execFileSync(cmd, args, { timeout: COMMAND_TIMEOUT_MS, stdio: 'ignore' });
  } catch {
    // Cleanup of something already gone.
  }
}

/** Bind the slot's abstract unix socket: resolves with the lock, or undefined when taken. */
function lockSlot(slot: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ path: `\0pidflow-test-slot-${slot}`, exclusive: true }, () => {
      server.unref();
      resolve(server);
    });
  });
}

/** The IPv4 address `host` (1 or 2) of a slot's /29. */
function slotIpv4(slot: number, host: number): string {
  const offset = slot * 8 + host;
  return `198.18.${offset >> 8}.${offset & 0xff}`;
}

/**
 * Lock a free slot: its socket bound by no other process, and its /29 on no interface (a run
 * killed with SIGKILL leaves its links behind; their slot is skipped, not reused).
 */
async function acquireSlot(): Promise<{ slot: number; lock: Server }> {
  for (let attempt = 0; attempt < SLOT_ATTEMPTS; attempt++) {
    const slot = FIRST_SLOT + (randomBytes(2).readUInt16LE(0) % (SLOT_COUNT - FIRST_SLOT));
    const lock = await lockSlot(slot);
    if (lock === undefined) continue;
    const used = run('ip', ['-o', 'addr', 'show']);
    if (used.includes(` ${slotIpv4(slot, 1)}/`) || used.includes(` ${slotIpv4(slot, 2)}/`)) {
      lock.close();
      continue;
    }
    return { slot, lock };
  }
  throw new Error(
    'no free 198.18.0.0/16 test slot: remove stale test links (ip -o addr | grep 198.18)',
  );
}

/**
 * Create two hosts joined by a veth pair. Needs root (CAP_NET_ADMIN + CAP_SYS_ADMIN).
 * For a slot s locked for this process (32 <= s < 8192), side a gets the first address of the
 * /29 at 198.18.0.0 + 8s, side b the second, and with `v6` fd42:6e66::s:1/112 and
 * fd42:6e66::s:2/112. Names carry the slot, so they are unique among live nets too.
 * @example
 * const net = await createTestNet({ prefix: 'pfe', v6: true });
 * try { ... } finally { await net.destroy(); }
 */
export async function createTestNet(options: TestNetOptions): Promise<TestNet> {
  const { prefix, v6 = false, mode = 'host' } = options;
  if (!/^[a-z0-9]{2,6}$/.test(prefix)) {
    throw new Error(`bad test net prefix ${JSON.stringify(prefix)}: use 2..6 chars [a-z0-9]`);
  }
  installExitHandlers();
  const { slot, lock } = await acquireSlot();
  // prefix + slot (3 base-36 digits) + 2 random hex digits: at most 11 characters.
  const id = prefix + slot.toString(36).padStart(3, '0') + randomBytes(1).toString('hex');
  const nsA = mode === 'pair' ? `${id}-a` : undefined;
  const nsB = `${id}-b`;
  const devA = `${id}a`;
  const devB = `${id}b`;
  if (devA.length > MAX_IFNAME_CHARS) throw new Error(`interface name ${devA} is too long`);
  const a: TestHost = {
    ns: nsA,
    device: devA,
    ipv4: slotIpv4(slot, 1),
    ipv6: v6 ? `fd42:6e66::${slot.toString(16)}:1` : undefined,
  };
  const b: TestHost = {
    ns: nsB,
    device: devB,
    ipv4: slotIpv4(slot, 2),
    ipv6: v6 ? `fd42:6e66::${slot.toString(16)}:2` : undefined,
  };
  for (const host of [a, b]) {
    assertTestAddress(host.ipv4);
    if (host.ipv6 !== undefined) assertTestAddress(host.ipv6);
  }
  const net = new TestNetImpl(id, a, b);
  net.slotLock = lock;
  liveNets.add(net);
  try {
    for (const ns of [nsA, nsB]) {
      if (ns === undefined) continue;
      run('ip', ['netns', 'add', ns]);
      net.namespaces.push(ns);
    }
    run('ip', ['link', 'add', devA, 'type', 'veth', 'peer', 'name', devB]);
    net.linkCreated = true;
    for (const host of [a, b]) {
      const ipIn = (args: string[]): string =>
        host.ns === undefined ? run('ip', args) : run('ip', ['-n', host.ns, ...args]);
      if (host.ns !== undefined) {
        run('ip', ['link', 'set', host.device, 'netns', host.ns]);
        ipIn(['link', 'set', 'lo', 'up']);
      }
      ipIn(['addr', 'add', `${host.ipv4}/29`, 'dev', host.device]);
      if (host.ipv6 !== undefined) {
        if (host.ns !== undefined) {
          run('ip', [
            'netns',
            'exec',
            host.ns,
            'sysctl',
            '-qw',
            'net.ipv6.conf.all.disable_ipv6=0',
          ]);
        }
        ipIn(['addr', 'add', `${host.ipv6}/112`, 'dev', host.device, 'nodad']);
      }
      ipIn(['link', 'set', host.device, 'up']);
    }
    return net;
  } catch (error) {
    await net.destroy();
    throw error;
  }
}

/** True when this process may create namespaces (root); e2e tests skip with a reason otherwise. */
export function canCreateTestNets(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}
