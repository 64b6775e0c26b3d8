// Process identity from /proc/<pid>: stat (ppid, start time), comm, exe, cmdline, uid, cgroup
// (-> container id and runtime) and network namespace; cached per `${pid}:${startTime}`.

import { isDenied, isVanished } from './procfs.js';
import type { ProcFs } from './procfs.js';
import type { ContainerInfo, ProcessInfo } from './types.js';

/**
 * Most bytes read of each /proc file that holds a name (docs/attribution.md, "Bounds"): a
 * process cannot grow pidflow's memory or a row with a huge command line. comm is 15 bytes
 * in the kernel (64 for some kernel threads); cmdline keeps the kernel's own limit before
 * Linux 4.2, one page.
 */
export const READ_LIMITS_BYTES = {
  stat: 4096,
  status: 4096,
  comm: 256,
  cmdline: 4096,
  cgroup: 16 * 1024,
  passwd: 16 * 1024 * 1024,
} as const;

/** Longest user name kept from /etc/passwd, characters (useradd allows 32). */
export const MAX_USER_NAME_LENGTH = 256;

/** The fields of /proc/<pid>/stat we use. */
export interface ProcessStat {
  readonly pid: number;
  readonly ppid: number;
  readonly startTime: number;
  /** comm as printed in stat (in parentheses there). */
  readonly comm: string;
}

/**
 * A ProcessInfo for something that is not a live, readable process: an aggregate entry
 * (`exited`, `evicted`) or a process known only from a socket event. Unknown fields are empty.
 */
export function placeholderProcess(key: string, pid: number, comm: string): ProcessInfo {
  return {
    key,
    pid,
    ppid: 0,
    comm,
    exe: '',
    cmdline: [],
    uid: -1,
    user: '',
    startTime: 0,
    cgroup: '',
    containerId: null,
    containerRuntime: null,
    netns: 0,
  };
}

/**
 * Parse /proc/<pid>/stat. comm may hold spaces and parentheses, so fields are counted from the
 * last `)` (proc(5)). Undefined for a malformed line.
 */
export function parseProcessStat(text: string): ProcessStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  // Field 3 (state) starts 2 characters after the `)`; field N is the (N - 3)th space after it.
  // Walk the spaces instead of split(): a scan parses a thousand of these.
  let at = close + 2;
  let ppid = Number.NaN;
  let startTime = Number.NaN;
  for (let field = 3; field <= 22; field++) {
    const end = text.indexOf(' ', at);
    const stop = end < 0 ? text.length : end;
    if (field === 4) ppid = Number(text.slice(at, stop));
    else if (field === 22) startTime = Number(text.slice(at, stop).trim());
    if (end < 0) {
      if (field < 22) return undefined;
      break;
    }
    at = end + 1;
  }
  if (!Number.isSafeInteger(pid) || !Number.isSafeInteger(ppid) || !Number.isSafeInteger(startTime))
    return undefined;
  return { pid, ppid, startTime, comm: text.slice(open + 1, close) };
}

/** Key of a process: a reused pid with a new start time is a new process. */
export function processKey(pid: number, startTime: number): string {
  return `${pid}:${startTime}`;
}

/** Container found in a cgroup path. */
export interface ContainerRef {
  readonly id: string;
  readonly runtime: 'docker' | 'containerd' | 'crio' | 'podman' | 'kubepods';
}

// Patterns, innermost (last) match wins. systemd-driver scope names carry the runtime; the
// cgroupfs driver of kubelet only gives /kubepods/<qos>/pod<uid>/<id>. conmon scopes
// (crio-conmon-, libpod-conmon-) are the monitor process, not the container, and do not match.
const CONTAINER_PATTERNS: readonly [RegExp, ContainerRef['runtime']][] = [
  [/docker-([0-9a-f]{64})\.scope/g, 'docker'],
  [/\/docker\/([0-9a-f]{64})(?=\/|$)/g, 'docker'],
  [/cri-containerd-([0-9a-f]{64})\.scope/g, 'containerd'],
  [/crio-([0-9a-f]{64})\.scope/g, 'crio'],
  [/libpod-([0-9a-f]{64})\.scope/g, 'podman'],
  [/\/libpod-([0-9a-f]{64})(?=\/|$)/g, 'podman'],
  [/\/kubepods[^\n]*\/pod[0-9a-f_-]+\/([0-9a-f]{64})(?=\/|$)/g, 'kubepods'],
];

/**
 * The container a cgroup path names, or undefined.
 * @example parseContainer('/system.slice/docker-<64 hex>.scope') // { id, runtime: 'docker' }
 */
export function parseContainer(cgroupPath: string): ContainerRef | undefined {
  let best: { index: number; ref: ContainerRef } | undefined;
  for (const [pattern, runtime] of CONTAINER_PATTERNS) {
    pattern.lastIndex = 0;
    for (let m = pattern.exec(cgroupPath); m !== null; m = pattern.exec(cgroupPath)) {
      const id = m[1];
      if (id === undefined) continue;
      const index = m.index + m[0].length;
      if (best === undefined || index > best.index) best = { index, ref: { id, runtime } };
    }
  }
  return best?.ref;
}

/**
 * The cgroup path to report from /proc/<pid>/cgroup text: the first line (v1 or v2) that names
 * a container, else the v2 unified line (`0::/path`), else the first line's path.
 */
export function pickCgroupPath(text: string): string {
  let unified: string | undefined;
  let first: string | undefined;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const a = line.indexOf(':');
    const b = a < 0 ? -1 : line.indexOf(':', a + 1);
    if (b < 0) continue;
    const path = line.slice(b + 1);
    if (parseContainer(path) !== undefined) return path;
    if (line.startsWith('0::') && unified === undefined) unified = path;
    if (first === undefined) first = path;
  }
  return unified ?? first ?? '';
}

/** Inode of a namespace link target (`net:[4026531840]`), or 0. */
export function parseNamespaceLink(target: string): number {
  const open = target.indexOf('[');
  if (open < 0 || !target.endsWith(']')) return 0;
  const value = Number(target.slice(open + 1, -1));
  return Number.isSafeInteger(value) && value > 0 ? value : 0;
}

/** Real uid from /proc/<pid>/status (`Uid:\treal\teffective\tsaved\tfs`), or undefined. */
export function parseStatusUid(text: string): number | undefined {
  const at = text.indexOf('\nUid:');
  const start = at < 0 ? (text.startsWith('Uid:') ? 0 : -1) : at + 1;
  if (start < 0) return undefined;
  const end = text.indexOf('\n', start);
  const fields = text
    .slice(start + 4, end < 0 ? undefined : end)
    .trim()
    .split(/\s+/);
  const uid = Number(fields[0]);
  return Number.isSafeInteger(uid) ? uid : undefined;
}

/** uid -> user name from /etc/passwd text. */
export function parsePasswd(text: string): Map<number, string> {
  const users = new Map<number, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(':');
    const uid = Number(fields[2]);
    if (fields[0] && Number.isSafeInteger(uid) && !users.has(uid))
      users.set(uid, fields[0].slice(0, MAX_USER_NAME_LENGTH));
  }
  return users;
}

/** What readProcessInfo asks for a container's names (ContainerNames, or a fake). */
export interface ContainerNameSource {
  resolve(lookup: {
    readonly id: string;
    readonly runtime: ContainerRef['runtime'];
    readonly cgroupPath: string;
  }): ContainerInfo;
  /** Sees every process read (a dockerd tells where its containers' state is). */
  noteProcess?(process: ProcessInfo): void;
}

/** /proc/<pid>/cmdline text (NUL-separated, read up to READ_LIMITS_BYTES.cmdline) -> argv. */
export function parseCmdline(text: string): string[] {
  return text === '' ? [] : text.replace(/\0$/, '').split('\0');
}

/**
 * The command line of a process read again (same bound as at first read), or undefined when
 * it cannot be read now (gone, refused). Processes rewrite it at run time (setproctitle,
 * Node's process.title, `prctl(PR_SET_MM_ARG_START)`).
 */
export function rereadCmdline(procFs: ProcFs, pid: number): string[] | undefined {
  try {
    return parseCmdline(procFs.readText(`/proc/${pid}/cmdline`, READ_LIMITS_BYTES.cmdline));
  } catch (error) {
    if (isDenied(error) || isVanished(error)) return undefined;
    throw error;
  }
}

/** Outcome of reading one process. */
export type ProcessReadResult =
  { readonly status: 'ok'; readonly info: ProcessInfo } | { readonly status: 'vanished' };

/**
 * Read everything we report about one process, given its already-read stat. Fields that are
 * refused (exe, ns/net of another user's process without root) fall back to '' and 0; the
 * process vanishing part way gives `vanished`.
 */
export function readProcessInfo(
  procFs: ProcFs,
  stat: ProcessStat,
  userName: (uid: number) => string,
  containerNames?: ContainerNameSource,
): ProcessReadResult {
  const base = `/proc/${stat.pid}`;
  try {
    const L = READ_LIMITS_BYTES;
    const comm = readOr(procFs, `${base}/comm`, stat.comm, L.comm).replace(/\n$/, '');
    const cmdline = parseCmdline(readOr(procFs, `${base}/cmdline`, '', L.cmdline));
    const uid = parseStatusUid(procFs.readText(`${base}/status`, L.status)) ?? -1;
    const cgroup = pickCgroupPath(readOr(procFs, `${base}/cgroup`, '', L.cgroup));
    const container = parseContainer(cgroup);
    const exe = linkOr(procFs, `${base}/exe`, '');
    const netns = parseNamespaceLink(linkOr(procFs, `${base}/ns/net`, ''));
    const names =
      container === undefined
        ? undefined
        : containerNames?.resolve({
            id: container.id,
            runtime: container.runtime,
            cgroupPath: cgroup,
          });
    return {
      status: 'ok',
      info: {
        key: processKey(stat.pid, stat.startTime),
        pid: stat.pid,
        ppid: stat.ppid,
        comm,
        exe,
        cmdline,
        uid,
        user: uid < 0 ? '' : userName(uid),
        startTime: stat.startTime,
        cgroup,
        containerId: container?.id ?? null,
        containerRuntime: names?.runtime ?? container?.runtime ?? null,
        netns,
        ...(names === undefined ? {} : { container: names }),
      },
    };
  } catch (error) {
    if (isVanished(error) || isDenied(error)) return { status: 'vanished' };
    throw error;
  }
}

// Optional fields: a refusal or a missing file gives the fallback; the process being gone is
// detected by the mandatory `status` read above, which throws.
function readOr(procFs: ProcFs, path: string, fallback: string, maxBytes: number): string {
  try {
    return procFs.readText(path, maxBytes);
  } catch (error) {
    if (isDenied(error) || isVanished(error)) return fallback;
    throw error;
  }
}

function linkOr(procFs: ProcFs, path: string, fallback: string): string {
  try {
    return procFs.readlink(path);
  } catch (error) {
    if (isDenied(error) || isVanished(error)) return fallback;
    throw error;
  }
}
