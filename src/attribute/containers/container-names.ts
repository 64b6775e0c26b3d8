// Container id -> names (runtime, name, image, compose project/service, Kubernetes namespace,
// pod, uid, container) from this host's own files, read through HostFiles and cached per id.
// Sources per runtime: docker's config.v2.json; containerd's runtime v2 task bundles (CRI
// annotations); cri-o's and podman's containers/storage (userdata/config.json, containers.json,
// rootless under the user's ~/.local/share/containers); kubelet's /var/log/containers links and
// /var/log/pods directories; the pod uid in kubepods cgroup paths.

import { errnoCode } from '../procfs.js';
import type { HostFiles } from '../host-files.js';
import type { ContainerInfo, ContainerRuntime, PodInfo } from '../types.js';
import {
  type ContainerFacts,
  parseCgroupUserUid,
  parseContainerLogName,
  parseDockerConfig,
  parseOciConfig,
  parsePasswdHome,
  parsePodLogDir,
  parseJsonObject,
  parsePodUid,
  parseStorageContainerList,
} from './state-parsers.js';

/** Largest config.v2.json / OCI config.json read (real ones are 5 to 40 KB). */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Largest containers.json read (about 1 KB per container). */
export const MAX_CONTAINER_LIST_BYTES = 8 * 1024 * 1024;
/** Largest /etc/passwd read (for a rootless podman user's home). */
const MAX_PASSWD_BYTES = 4 * 1024 * 1024;
/** Directory entries looked at at most in one listing (containerd namespaces, /var/log/pods...). */
const MAX_DIR_ENTRIES = 4096;
/** Docker data roots searched at most (defaults plus those learnt from dockerd processes). */
const MAX_DOCKER_ROOTS = 8;
/** Parsed container lists (containers.json) kept, re-read only when their mtime or size changes. */
const MAX_CACHED_LISTS = 16;
/** An id no state file knew is looked up again at most this often while it keeps appearing. */
export const UNRESOLVED_RETRY_MS = 5000;

/** Where each runtime keeps its state; the defaults are the packages' defaults. */
export interface ContainerStatePaths {
  /** Docker data roots (`<root>/containers/<id>/config.v2.json`). @default ['/var/lib/docker'] */
  docker: readonly string[];
  /** containerd task bundle roots (`<root>/<namespace>/<id>/config.json`); k8s.io first. */
  containerdTasks: readonly string[];
  /** containers/storage roots, rootful (cri-o, podman): graph root and run root. */
  storage: readonly string[];
  /** kubelet's per-container log links. @default '/var/log/containers' */
  kubeletContainerLogs: string;
  /** kubelet's per-pod log directories. @default '/var/log/pods' */
  kubeletPodLogs: string;
}

export const DEFAULT_CONTAINER_STATE_PATHS: ContainerStatePaths = {
  docker: ['/var/lib/docker'],
  containerdTasks: [
    '/run/containerd/io.containerd.runtime.v2.task',
    '/run/k3s/containerd/io.containerd.runtime.v2.task',
    '/run/containerd/io.containerd.runtime.v1.linux',
  ],
  storage: ['/var/lib/containers/storage', '/run/containers/storage'],
  kubeletContainerLogs: '/var/log/containers',
  kubeletPodLogs: '/var/log/pods',
};

/** Options of {@link ContainerNames}. */
export interface ContainerNamesOptions {
  files: HostFiles;
  /** Monotonic ms, for the retry of unknown ids. */
  monotonicMs: () => number;
  /** Containers remembered at most; the least recently asked for is evicted. @default 4096 */
  maxContainers?: number;
  paths?: Partial<ContainerStatePaths>;
}

/** Counters of {@link ContainerNames}. */
export interface ContainerNamesStats {
  /** Containers cached now. */
  readonly cached: number;
  /** Containers dropped from the cache to stay within maxContainers. */
  readonly evicted: number;
  /** Cached containers no state file named (yet). */
  readonly unresolved: number;
  /** State files read. */
  readonly filesRead: number;
  /** State files that were not what their runtime writes (bad JSON, wrong shape, not a regular file). */
  readonly malformedFiles: number;
  /** State files over their size cap (not parsed). */
  readonly oversizedFiles: number;
  /** State files we may not read (not root). */
  readonly deniedFiles: number;
}

/** The container a cgroup path named, as process-info finds it. */
export interface ContainerLookup {
  readonly id: string;
  readonly runtime: ContainerRuntime;
  /** cgroup path of the process (pod uid, rootless user). */
  readonly cgroupPath: string;
}

/** A cached entry: the object handed out is filled in place when a retry finds more. */
interface Entry {
  info: MutableContainerInfo;
  lookup: ContainerLookup;
  retryAtMs: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type MutableContainerInfo = Mutable<Omit<ContainerInfo, 'pod'>> & { pod: Mutable<PodInfo> | null };

/**
 * Names containers from the host's own state. Never throws: an unreadable, malformed or huge
 * file leaves the names it would have given empty (counted in {@link stats}). The same object
 * is returned for an id every time, so names found later by a retry reach every process that
 * holds it, and a container that exits keeps the names it had.
 */
export class ContainerNames {
  private readonly files: HostFiles;
  private readonly monotonicMs: () => number;
  private readonly maxContainers: number;
  private readonly paths: ContainerStatePaths;
  private readonly entries = new Map<string, Entry>();
  /** Docker data roots: the defaults plus those of running root dockerd processes. */
  private readonly dockerRoots: string[];
  private readonly lists = new Map<
    string,
    { mtimeMs: number; sizeBytes: number; byId: Map<string, ContainerFacts> | undefined }
  >();
  private counters = {
    evicted: 0,
    filesRead: 0,
    malformedFiles: 0,
    oversizedFiles: 0,
    deniedFiles: 0,
  };

  constructor(options: ContainerNamesOptions) {
    this.files = options.files;
    this.monotonicMs = options.monotonicMs;
    this.maxContainers = Math.max(1, options.maxContainers ?? 4096);
    this.paths = { ...DEFAULT_CONTAINER_STATE_PATHS, ...options.paths };
    this.dockerRoots = [...this.paths.docker];
  }

  /**
   * Learn a Docker data root from a running dockerd (root's only: anyone can start a process
   * called dockerd): `--data-root` (or the old `-g`/`--graph`), else `data-root` of its
   * `--config-file` (default /etc/docker/daemon.json). Unresolved containers are looked up
   * again at the next retry.
   */
  noteProcess(process: {
    readonly comm: string;
    readonly uid: number;
    readonly cmdline: readonly string[];
  }): void {
    if (process.comm !== 'dockerd' || process.uid !== 0) return;
    const args = process.cmdline;
    let root = flagValue(args, ['--data-root', '-g', '--graph']);
    if (root === undefined) {
      const configPath = flagValue(args, ['--config-file']) ?? '/etc/docker/daemon.json';
      if (isSafeAbsolutePath(configPath)) {
        const text = this.read(configPath, MAX_CONFIG_BYTES);
        const config = text === undefined ? undefined : parseJsonObject(text);
        const value = config === undefined ? undefined : config['data-root'];
        if (typeof value === 'string') root = value;
      }
    }
    if (root === undefined || !isSafeAbsolutePath(root)) return;
    root = root.replace(/\/+$/, '') || '/';
    if (this.dockerRoots.includes(root) || this.dockerRoots.length >= MAX_DOCKER_ROOTS) return;
    this.dockerRoots.push(root);
    for (const entry of this.entries.values()) entry.retryAtMs = 0;
  }

  /** Names of a container; reads state files only for a new id (or an unresolved one, rarely). */
  resolve(lookup: ContainerLookup): ContainerInfo {
    const now = this.monotonicMs();
    const entry = this.entries.get(lookup.id);
    if (entry !== undefined) {
      // Most recently used last: eviction takes the first.
      this.entries.delete(lookup.id);
      this.entries.set(lookup.id, entry);
      if (isUnresolved(entry.info) && now >= entry.retryAtMs) {
        entry.retryAtMs = now + UNRESOLVED_RETRY_MS;
        this.fill(entry.info, lookup);
      }
      return entry.info;
    }
    const info: MutableContainerInfo = {
      id: lookup.id,
      runtime: lookup.runtime,
      name: '',
      image: '',
      composeProject: '',
      composeService: '',
      pod: null,
    };
    this.fill(info, lookup);
    while (this.entries.size >= this.maxContainers) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
      this.counters.evicted++;
    }
    this.entries.set(lookup.id, { info, lookup, retryAtMs: now + UNRESOLVED_RETRY_MS });
    return info;
  }

  /**
   * Look up again, in place, up to `limit` unresolved containers whose retry time has come
   * (a process read before its runtime wrote the state files). Called after each scan; the
   * processes already holding the object see the names.
   */
  retryUnresolved(limit = 4): void {
    const now = this.monotonicMs();
    let done = 0;
    for (const entry of this.entries.values()) {
      if (done >= limit) break;
      if (!isUnresolved(entry.info) || now < entry.retryAtMs) continue;
      entry.retryAtMs = now + UNRESOLVED_RETRY_MS;
      this.fill(entry.info, entry.lookup);
      done++;
    }
  }

  stats(): ContainerNamesStats {
    let unresolved = 0;
    for (const entry of this.entries.values()) if (isUnresolved(entry.info)) unresolved++;
    return { cached: this.entries.size, unresolved, ...this.counters };
  }

  /** Read the sources of the runtime and merge what they say into `info` (empty fields only). */
  private fill(info: MutableContainerInfo, lookup: ContainerLookup): void {
    const { id, runtime, cgroupPath } = lookup;
    const sources: (() => ContainerFacts | undefined)[] = [];
    const docker = (): ContainerFacts | undefined => this.fromDocker(id);
    const containerd = (): ContainerFacts | undefined => this.fromContainerd(id);
    const storage = (): ContainerFacts | undefined =>
      this.fromStorage(id, this.paths.storage, runtime);
    const rootless = (): ContainerFacts | undefined => this.fromRootlessStorage(id, cgroupPath);
    if (runtime === 'docker') sources.push(docker);
    else if (runtime === 'containerd') sources.push(containerd);
    else if (runtime === 'crio') sources.push(storage);
    else if (runtime === 'podman') sources.push(storage, rootless);
    else sources.push(containerd, storage, docker);
    for (const source of sources) {
      const facts = source();
      if (facts === undefined) continue;
      merge(info, facts);
      if (facts.runtime !== undefined && info.runtime === 'kubepods') info.runtime = facts.runtime;
      break;
    }
    const podUid = parsePodUid(cgroupPath);
    // Kubernetes' own files only for containers that can be in a pod (podman's and docker's
    // are when their labels or cgroup say so).
    const canBeInPod = runtime === 'containerd' || runtime === 'crio' || runtime === 'kubepods';
    if (podUid !== undefined || info.pod !== null || canBeInPod) {
      if (info.pod === null || info.pod.container === '' || info.pod.name === '') {
        const link = this.fromContainerLogs(id);
        if (link !== undefined) merge(info, link);
      }
      if (podUid !== undefined) {
        merge(info, { podUid });
        if (info.pod !== null && (info.pod.name === '' || info.pod.namespace === '')) {
          const dir = this.fromPodLogs(podUid);
          if (dir !== undefined) merge(info, dir);
        }
      }
    }
  }

  private fromDocker(id: string): ContainerFacts | undefined {
    for (const root of this.dockerRoots) {
      const text = this.read(`${root}/containers/${id}/config.v2.json`, MAX_CONFIG_BYTES);
      if (text === undefined) continue;
      const facts = parseDockerConfig(text, id);
      if (facts === undefined) this.counters.malformedFiles++;
      else return facts;
    }
    return undefined;
  }

  private fromContainerd(id: string): ContainerFacts | undefined {
    for (const root of this.paths.containerdTasks) {
      const namespaces = this.list(root);
      if (namespaces === undefined) continue;
      // Kubernetes' namespace first; docker's own ("moby") and others after.
      namespaces.sort((a, b) => Number(b === 'k8s.io') - Number(a === 'k8s.io'));
      for (const namespace of namespaces) {
        if (namespace.startsWith('.')) continue;
        const text = this.read(`${root}/${namespace}/${id}/config.json`, MAX_CONFIG_BYTES);
        if (text === undefined) continue;
        const facts = parseOciConfig(text);
        if (facts === undefined) {
          this.counters.malformedFiles++;
          continue;
        }
        facts.runtime ??= 'containerd';
        return facts;
      }
    }
    return undefined;
  }

  /** cri-o and podman: the bundle's config.json annotations, then the storage's container list. */
  private fromStorage(
    id: string,
    roots: readonly string[],
    hint: ContainerRuntime,
  ): ContainerFacts | undefined {
    let found: ContainerFacts | undefined;
    for (const root of roots) {
      const text = this.read(
        `${root}/overlay-containers/${id}/userdata/config.json`,
        MAX_CONFIG_BYTES,
      );
      if (text === undefined) continue;
      const facts = parseOciConfig(text);
      if (facts === undefined) {
        this.counters.malformedFiles++;
        continue;
      }
      found = facts;
      break;
    }
    if (found !== undefined && (found.podContainer !== undefined || found.name !== undefined)) {
      return found;
    }
    for (const root of roots) {
      for (const driver of ['overlay', 'vfs']) {
        for (const list of ['containers.json', 'volatile-containers.json']) {
          const facts = this.storageList(`${root}/${driver}-containers/${list}`)?.get(id);
          if (facts === undefined) continue;
          // Annotations (found) win over the list.
          const merged: ContainerFacts = { ...facts, ...found };
          // cri-o names its storage entries k8s_<container>_<pod>_<namespace>_<uid>_<attempt>:
          // not a name anyone gave; the pod fields say it better.
          const isCrio =
            merged.runtime === 'crio' || (merged.runtime === undefined && hint === 'crio');
          if (merged.podContainer !== undefined || isCrio) delete merged.name;
          return merged;
        }
      }
    }
    return found;
  }

  /**
   * A containers.json by id, parsed once per version of the file (mtime and size): a node
   * with many podman containers lists them all in one file, read for each new id otherwise.
   */
  private storageList(path: string): Map<string, ContainerFacts> | undefined {
    let stat: { mtimeMs: number; sizeBytes: number };
    try {
      stat = this.files.stat(path);
    } catch {
      return undefined;
    }
    const cached = this.lists.get(path);
    if (cached?.mtimeMs === stat.mtimeMs && cached.sizeBytes === stat.sizeBytes) return cached.byId;
    const text = this.read(path, MAX_CONTAINER_LIST_BYTES);
    const byId = text === undefined ? undefined : parseStorageContainerList(text);
    if (text !== undefined && byId === undefined) this.counters.malformedFiles++;
    if (this.lists.size >= MAX_CACHED_LISTS) this.lists.clear();
    this.lists.set(path, { mtimeMs: stat.mtimeMs, sizeBytes: stat.sizeBytes, byId });
    return byId;
  }

  private fromRootlessStorage(id: string, cgroupPath: string): ContainerFacts | undefined {
    const uid = parseCgroupUserUid(cgroupPath);
    if (uid === undefined || uid === 0) return undefined;
    const passwd = this.read('/etc/passwd', MAX_PASSWD_BYTES);
    const home = passwd === undefined ? undefined : parsePasswdHome(passwd, uid);
    const roots = [`/run/user/${uid}/containers`];
    if (home !== undefined) roots.unshift(`${home}/.local/share/containers/storage`);
    const facts = this.fromStorage(id, roots, 'podman');
    if (facts !== undefined) facts.runtime ??= 'podman';
    return facts;
  }

  private fromContainerLogs(id: string): ContainerFacts | undefined {
    const names = this.list(this.paths.kubeletContainerLogs);
    if (names === undefined) return undefined;
    for (const fileName of names) {
      const facts = parseContainerLogName(fileName, id);
      if (facts !== undefined) return facts;
    }
    return undefined;
  }

  private fromPodLogs(podUid: string): ContainerFacts | undefined {
    const names = this.list(this.paths.kubeletPodLogs);
    if (names === undefined) return undefined;
    for (const dirName of names) {
      if (!dirName.endsWith(`_${podUid}`)) continue;
      const dir = parsePodLogDir(dirName);
      if (dir === undefined || dir.uid !== podUid) continue;
      const facts: ContainerFacts = { podNamespace: dir.namespace, podName: dir.name, podUid };
      // The container's own name is certain only when the pod has one container directory.
      const containers = this.list(`${this.paths.kubeletPodLogs}/${dirName}`);
      if (containers?.length === 1 && containers[0] !== undefined) {
        facts.podContainer = containers[0];
      }
      return facts;
    }
    return undefined;
  }

  /** Text of a state file, or undefined (absent, refused, too big, not a file: counted). */
  private read(path: string, maxBytes: number): string | undefined {
    try {
      const file = this.files.readFile(path, maxBytes);
      this.counters.filesRead++;
      return file.text;
    } catch (error) {
      const code = errnoCode(error);
      if (code === 'EFBIG') this.counters.oversizedFiles++;
      else if (code === 'EACCES' || code === 'EPERM') this.counters.deniedFiles++;
      else if (code === 'EFTYPE' || code === 'ELOOP' || code === 'EISDIR')
        this.counters.malformedFiles++;
      return undefined;
    }
  }

  private list(path: string): string[] | undefined {
    try {
      const names = this.files.readdir(path);
      return names.length > MAX_DIR_ENTRIES ? names.slice(0, MAX_DIR_ENTRIES) : names;
    } catch {
      return undefined;
    }
  }
}

/** Value of the first of `names` in an argument list (`--flag value` or `--flag=value`). */
function flagValue(args: readonly string[], names: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    for (const name of names) {
      if (arg === name) return args[i + 1];
      if (arg.startsWith(`${name}=`)) return arg.slice(name.length + 1);
    }
  }
  return undefined;
}

/** An absolute path without `..` components, of a sane length. */
function isSafeAbsolutePath(path: string): boolean {
  return (
    path.startsWith('/') &&
    path.length <= 4096 &&
    !path.split('/').includes('..') &&
    !path.includes('\0')
  );
}

function isUnresolved(info: ContainerInfo): boolean {
  return info.name === '' && info.image === '' && info.pod === null;
}

/** Fill the empty fields of `info` from `facts`. */
function merge(info: MutableContainerInfo, facts: ContainerFacts): void {
  if (info.name === '' && facts.name !== undefined) info.name = facts.name;
  if (info.image === '' && facts.image !== undefined) info.image = facts.image;
  if (info.composeProject === '' && facts.composeProject !== undefined) {
    info.composeProject = facts.composeProject;
  }
  if (info.composeService === '' && facts.composeService !== undefined) {
    info.composeService = facts.composeService;
  }
  const { podNamespace, podName, podUid, podContainer } = facts;
  if (
    podNamespace === undefined &&
    podName === undefined &&
    podUid === undefined &&
    podContainer === undefined
  ) {
    return;
  }
  info.pod ??= { namespace: '', name: '', uid: '', container: '' };
  if (info.pod.namespace === '' && podNamespace !== undefined) info.pod.namespace = podNamespace;
  if (info.pod.name === '' && podName !== undefined) info.pod.name = podName;
  if (info.pod.uid === '' && podUid !== undefined) info.pod.uid = podUid;
  if (info.pod.container === '' && podContainer !== undefined) info.pod.container = podContainer;
}
