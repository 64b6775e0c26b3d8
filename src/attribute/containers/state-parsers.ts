// Pure parsers of container runtimes' and the kubelet's on-disk state: docker's config.v2.json,
// OCI config.json annotations (containerd CRI, cri-o, podman), containers/storage's
// containers.json, kubelet log names, and the pod uid in kubepods cgroup paths. Every value is
// untrusted: only strings are taken, cut to a bounded length; anything else reads as unknown.

/** Longest container, pod, namespace or compose name kept (Kubernetes names are <= 253). */
export const MAX_NAME_CHARS = 253;
/** Longest image reference kept (registry/repository:tag@sha256:digest). */
export const MAX_IMAGE_CHARS = 512;

/** What one state source tells about a container; absent fields are unknown. */
export interface ContainerFacts {
  name?: string;
  image?: string;
  composeProject?: string;
  composeService?: string;
  podNamespace?: string;
  podName?: string;
  podUid?: string;
  /** Container name inside its pod. */
  podContainer?: string;
  /** Runtime the facts identify (cri-o's and podman's files say which of them wrote them). */
  runtime?: 'docker' | 'containerd' | 'crio' | 'podman';
}

/**
 * A string value cut to `maxChars` UTF-16 units (never leaving half a surrogate pair), or ''
 * for anything that is not a string.
 */
export function boundedString(value: unknown, maxChars: number): string {
  if (typeof value !== 'string') return '';
  if (value.length <= maxChars) return value;
  const last = value.charCodeAt(maxChars - 1);
  const end = last >= 0xd800 && last <= 0xdbff ? maxChars - 1 : maxChars;
  return value.slice(0, end);
}

/** A JSON object (not an array or a scalar), or undefined for anything else or bad JSON. */
export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return isObject(value) ? value : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Own property of a parsed JSON object (never a prototype's: `__proto__` keys stay data). */
function own(object: Record<string, unknown>, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(object, key) ? object[key] : undefined;
}

function name(object: Record<string, unknown>, key: string): string {
  return boundedString(own(object, key), MAX_NAME_CHARS);
}

/** Set only the non-empty values. */
function put(
  facts: ContainerFacts,
  key: Exclude<keyof ContainerFacts, 'runtime'>,
  value: string,
): void {
  if (value !== '') facts[key] = value;
}

// Labels kubelet's dockershim (and cri-dockerd) put on docker containers
// (pkg/kubelet/types/labels.go); cri-o copies the same keys into its OCI annotations.
const KUBE_POD_NAME = 'io.kubernetes.pod.name';
const KUBE_POD_NAMESPACE = 'io.kubernetes.pod.namespace';
const KUBE_POD_UID = 'io.kubernetes.pod.uid';
const KUBE_CONTAINER_NAME = 'io.kubernetes.container.name';

function kubeLabels(facts: ContainerFacts, labels: Record<string, unknown>): void {
  put(facts, 'podName', name(labels, KUBE_POD_NAME));
  put(facts, 'podNamespace', name(labels, KUBE_POD_NAMESPACE));
  put(facts, 'podUid', name(labels, KUBE_POD_UID));
  const container = name(labels, KUBE_CONTAINER_NAME);
  // dockershim names the sandbox (pause) container "POD".
  if (container !== 'POD') put(facts, 'podContainer', container);
}

/**
 * Docker's /var/lib/docker/containers/<id>/config.v2.json (moby's container.Container):
 * `ID`, `Name` ("/web-1"), `Config.Image` (as the user gave it), `Config.Labels` (compose's
 * com.docker.compose.project/.service, kubelet's io.kubernetes.*). Undefined when the file is
 * not such an object or belongs to another id.
 */
export function parseDockerConfig(text: string, id: string): ContainerFacts | undefined {
  const config = parseJsonObject(text);
  if (config === undefined || own(config, 'ID') !== id) return undefined;
  const facts: ContainerFacts = { runtime: 'docker' };
  const rawName = boundedString(own(config, 'Name'), MAX_NAME_CHARS + 1);
  put(
    facts,
    'name',
    boundedString(rawName.startsWith('/') ? rawName.slice(1) : rawName, MAX_NAME_CHARS),
  );
  const inner = own(config, 'Config');
  if (isObject(inner)) {
    put(facts, 'image', boundedString(own(inner, 'Image'), MAX_IMAGE_CHARS));
    const labels = own(inner, 'Labels');
    if (isObject(labels)) {
      put(facts, 'composeProject', name(labels, 'com.docker.compose.project'));
      put(facts, 'composeService', name(labels, 'com.docker.compose.service'));
      kubeLabels(facts, labels);
    }
  }
  return facts;
}

/**
 * Annotations of an OCI runtime bundle's config.json: containerd's CRI plugin writes
 * io.kubernetes.cri.{container-type,container-name,sandbox-name,sandbox-namespace,sandbox-uid,
 * image-name}; cri-o writes io.container.manager = "cri-o", io.kubernetes.pod.{name,namespace,
 * uid}, io.kubernetes.container.name and io.kubernetes.cri-o.{ContainerType,ImageName}; podman
 * writes io.container.manager = "libpod". Undefined when the file is not a JSON object.
 */
export function parseOciConfig(text: string): ContainerFacts | undefined {
  const config = parseJsonObject(text);
  if (config === undefined) return undefined;
  const annotations = own(config, 'annotations');
  const facts: ContainerFacts = {};
  if (!isObject(annotations)) return facts;
  const manager = own(annotations, 'io.container.manager');
  if (manager === 'cri-o') facts.runtime = 'crio';
  else if (manager === 'libpod') facts.runtime = 'podman';
  if (own(annotations, 'io.kubernetes.cri.container-type') !== undefined) {
    facts.runtime = 'containerd';
    put(facts, 'podName', name(annotations, 'io.kubernetes.cri.sandbox-name'));
    put(facts, 'podNamespace', name(annotations, 'io.kubernetes.cri.sandbox-namespace'));
    put(facts, 'podUid', name(annotations, 'io.kubernetes.cri.sandbox-uid'));
    put(facts, 'podContainer', name(annotations, 'io.kubernetes.cri.container-name'));
    put(
      facts,
      'image',
      boundedString(own(annotations, 'io.kubernetes.cri.image-name'), MAX_IMAGE_CHARS),
    );
  } else {
    kubeLabels(facts, annotations);
    put(
      facts,
      'image',
      boundedString(own(annotations, 'io.kubernetes.cri-o.ImageName'), MAX_IMAGE_CHARS),
    );
    // cri-o's pause container carries ContainerType "sandbox" and the container name "POD".
    if (own(annotations, 'io.kubernetes.cri-o.ContainerType') === 'sandbox')
      delete facts.podContainer;
  }
  return facts;
}

/**
 * Every entry of containers/storage's containers.json (or volatile-containers.json), by id:
 * an array of `{id, names: [...], image, layer, metadata, created}` where `metadata` is itself
 * JSON text (podman: `{"image-name": ..., "name": ...}`). Undefined when the file is not such
 * an array; entries of another shape are skipped.
 */
export function parseStorageContainerList(text: string): Map<string, ContainerFacts> | undefined {
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(list)) return undefined;
  const byId = new Map<string, ContainerFacts>();
  for (const entry of list as unknown[]) {
    if (!isObject(entry)) continue;
    const id = own(entry, 'id');
    if (typeof id !== 'string' || !/^[0-9a-f]{64}$/.test(id)) continue;
    const facts: ContainerFacts = {};
    const names = own(entry, 'names');
    if (Array.isArray(names)) put(facts, 'name', boundedString(names[0], MAX_NAME_CHARS));
    const metadataText = own(entry, 'metadata');
    const metadata =
      typeof metadataText === 'string' && metadataText.length <= 64 * 1024
        ? parseJsonObject(metadataText)
        : undefined;
    if (metadata !== undefined) {
      if (facts.name === undefined) put(facts, 'name', name(metadata, 'name'));
      put(facts, 'image', boundedString(own(metadata, 'image-name'), MAX_IMAGE_CHARS));
    }
    byId.set(id, facts);
  }
  return byId;
}

/** The entry of `id` in a containers.json text (see {@link parseStorageContainerList}). */
export function parseStorageContainers(text: string, id: string): ContainerFacts | undefined {
  return parseStorageContainerList(text)?.get(id);
}

/**
 * kubelet's per-container log link in /var/log/containers:
 * `<pod>_<namespace>_<container>-<64 hex id>.log`. Pod and namespace names cannot hold `_`;
 * the container name ends at the `-` before the id. Undefined for another id or another shape.
 */
export function parseContainerLogName(fileName: string, id: string): ContainerFacts | undefined {
  const suffix = `-${id}.log`;
  if (!fileName.endsWith(suffix)) return undefined;
  const head = fileName.slice(0, -suffix.length);
  const first = head.indexOf('_');
  const second = first < 0 ? -1 : head.indexOf('_', first + 1);
  if (first <= 0 || second <= first + 1 || second === head.length - 1) return undefined;
  return {
    podName: boundedString(head.slice(0, first), MAX_NAME_CHARS),
    podNamespace: boundedString(head.slice(first + 1, second), MAX_NAME_CHARS),
    podContainer: boundedString(head.slice(second + 1), MAX_NAME_CHARS),
  };
}

/**
 * A pod's log directory name in /var/log/pods: `<namespace>_<pod>_<uid>`. Undefined for another
 * shape.
 */
export function parsePodLogDir(
  dirName: string,
): { namespace: string; name: string; uid: string } | undefined {
  const first = dirName.indexOf('_');
  const last = dirName.lastIndexOf('_');
  if (first <= 0 || last <= first + 1 || last === dirName.length - 1) return undefined;
  return {
    namespace: boundedString(dirName.slice(0, first), MAX_NAME_CHARS),
    name: boundedString(dirName.slice(first + 1, last), MAX_NAME_CHARS),
    uid: boundedString(dirName.slice(last + 1), MAX_NAME_CHARS),
  };
}

// kubelet's pod cgroup: `pod<uid>` (cgroupfs driver, /kubepods/burstable/pod<uid>/) or
// `kubepods-<qos>-pod<uid with _ for ->.slice` (systemd driver). Static pods' uids are a
// 32-hex hash without dashes.
const POD_UID_PATTERN =
  /(?:\/|-)pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32})(?=\.slice(?:\/|$)|\/|$)/;

/** The pod uid in a kubepods cgroup path (dashes restored), or undefined. */
export function parsePodUid(cgroupPath: string): string | undefined {
  if (!cgroupPath.includes('kubepods')) return undefined;
  const match = POD_UID_PATTERN.exec(cgroupPath);
  return match?.[1]?.replaceAll('_', '-');
}

/** The uid of a rootless user's cgroup (`/user.slice/user-1000.slice/...`), or undefined. */
export function parseCgroupUserUid(cgroupPath: string): number | undefined {
  const match = /\/user-(\d{1,10})\.slice\//.exec(cgroupPath);
  const uid = match === null ? Number.NaN : Number(match[1]);
  return Number.isSafeInteger(uid) ? uid : undefined;
}

/** Home directory of `uid` from /etc/passwd text, or undefined. */
export function parsePasswdHome(text: string, uid: number): string | undefined {
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields.length < 7 || Number(fields[2]) !== uid || fields[2] === '') continue;
    const home = fields[5] ?? '';
    return home.startsWith('/') && !home.split('/').includes('..') ? home : undefined;
  }
  return undefined;
}
