// Container names from recorded runtime state trees (test/fixtures/containers/: docker,
// containerd CRI, cri-o, podman rootful and rootless, kubelet-only), hostile and malformed
// files, the cache bound and the retry of unknown ids.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { containerFixture } from '../../../test/helpers/fake-procfs.js';
import { NodeHostFiles } from '../host-files.js';
import type { HostFile, HostFiles } from '../host-files.js';
import type { ContainerRuntime } from '../types.js';
import { ContainerNames, UNRESOLVED_RETRY_MS } from './container-names.js';
import { MAX_IMAGE_CHARS, MAX_NAME_CHARS } from './state-parsers.js';

const ids = JSON.parse(readFileSync(containerFixture('ids.json'), 'utf8')) as Record<
  string,
  string
>;
function id(key: string): string {
  const value = ids[key];
  if (value === undefined) throw new Error(`no fixture id ${key}`);
  return value;
}

function resolver(tree: string, files?: HostFiles): ContainerNames {
  return new ContainerNames({
    files: files ?? new NodeHostFiles(containerFixture(tree)),
    monotonicMs: () => 0,
  });
}

const dockerScope = (cid: string): string => `/system.slice/docker-${cid}.scope`;

test('docker: name without the slash, image as given, compose project and service', () => {
  const names = resolver('docker');
  const info = names.resolve({
    id: id('dockerWeb'),
    runtime: 'docker',
    cgroupPath: dockerScope(id('dockerWeb')),
  });
  assert.deepEqual(info, {
    id: id('dockerWeb'),
    runtime: 'docker',
    name: 'shop-web-1',
    image: 'nginx:1.27',
    composeProject: 'shop',
    composeService: 'web',
    pod: null,
  });
  assert.equal(names.stats().malformedFiles, 0);
});

test('docker: a --network host container is named like any other (cgroupfs driver path)', () => {
  const info = resolver('docker').resolve({
    id: id('dockerHost'),
    runtime: 'docker',
    cgroupPath: `/docker/${id('dockerHost')}`,
  });
  assert.equal(info.name, 'netdebug');
  assert.equal(info.image, 'localhost/pidflow-test:1');
  assert.equal(info.composeProject, '');
});

test('docker: hostile names are kept as data, cut to the bound; wrong-typed labels read as unknown', () => {
  const info = resolver('docker').resolve({
    id: id('dockerHostile'),
    runtime: 'docker',
    cgroupPath: dockerScope(id('dockerHostile')),
  });
  assert.equal(info.name.length, MAX_NAME_CHARS);
  assert.ok(info.name.startsWith('x\u001b[31mred\u001b[0m\u202etxt.exe'));
  assert.equal(info.image.length, MAX_IMAGE_CHARS);
  assert.equal(info.composeProject, '');
  assert.equal(info.composeService, '');
});

test('docker: truncated, foreign-id and non-object configs give an unknown name and are counted', () => {
  const names = resolver('docker');
  for (const key of ['dockerTruncated', 'dockerWrongId', 'dockerArray']) {
    const info = names.resolve({
      id: id(key),
      runtime: 'docker',
      cgroupPath: dockerScope(id(key)),
    });
    assert.equal(info.name, '', key);
    assert.equal(info.image, '', key);
  }
  const stats = names.stats();
  assert.equal(stats.malformedFiles, 3);
  assert.equal(stats.unresolved, 3);
});

test('containerd CRI: pod namespace, name, uid, container and image from the task bundle', () => {
  const info = resolver('containerd').resolve({
    id: id('coredns'),
    runtime: 'containerd',
    cgroupPath:
      '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod01b4b887_7635_4346_9c20_58a294bbb034.slice/cri-containerd-' +
      `${id('coredns')}.scope`,
  });
  assert.deepEqual(info, {
    id: id('coredns'),
    runtime: 'containerd',
    name: '',
    image: 'registry.k8s.io/coredns/coredns:v1.11.1',
    composeProject: '',
    composeService: '',
    pod: {
      namespace: 'kube-system',
      name: 'coredns-76f75df574-w4b72',
      uid: '01b4b887-7635-4346-9c20-58a294bbb034',
      container: 'coredns',
    },
  });
});

test('containerd CRI: the sandbox (pause) container has its pod and no container name', () => {
  const info = resolver('containerd').resolve({
    id: id('corednsSandbox'),
    runtime: 'containerd',
    cgroupPath: '',
  });
  assert.equal(info.pod?.name, 'coredns-76f75df574-w4b72');
  assert.equal(info.pod?.container, '');
});

test('containerd CRI: a hostNetwork pod (kube-proxy) carries its pod like any other', () => {
  const info = resolver('containerd').resolve({
    id: id('kubeProxy'),
    runtime: 'containerd',
    cgroupPath: '',
  });
  assert.equal(info.pod?.name, 'kube-proxy-6xsx9');
  assert.equal(info.pod?.container, 'kube-proxy');
});

test('containerd: hostile annotations (objects, numbers, 100,000 characters, newlines) stay bounded data', () => {
  const info = resolver('containerd').resolve({
    id: id('containerdHostile'),
    runtime: 'containerd',
    cgroupPath: '',
  });
  assert.equal(info.pod?.container, '');
  assert.equal(info.image, '');
  assert.equal(info.pod?.name.length, MAX_NAME_CHARS);
  assert.equal(info.pod?.namespace, 'default\n# HELP fake');
});

test('kubelet only (cgroupfs driver, no runtime state): names from /var/log/containers and /var/log/pods', () => {
  const names = resolver('kubelet');
  const web = names.resolve({
    id: id('cgroupfsWeb'),
    runtime: 'kubepods',
    cgroupPath: `/kubepods/burstable/pod3b6b0c5e-9e5a-4a5c-8f5c-1d2e3f4a5b6c/${id('cgroupfsWeb')}`,
  });
  assert.equal(web.runtime, 'kubepods');
  assert.deepEqual(web.pod, {
    namespace: 'payments',
    name: 'checkout-7d9f8b6c5d-x2x7q',
    uid: '3b6b0c5e-9e5a-4a5c-8f5c-1d2e3f4a5b6c',
    container: 'web',
  });
  const sidecar = names.resolve({
    id: id('cgroupfsSidecar'),
    runtime: 'kubepods',
    cgroupPath: `/kubepods/burstable/pod3b6b0c5e-9e5a-4a5c-8f5c-1d2e3f4a5b6c/${id('cgroupfsSidecar')}`,
  });
  assert.equal(sidecar.pod?.container, 'istio-proxy');
  // No log link: the pod directory names the pod; its only container directory names the container.
  const lone = names.resolve({
    id: id('cgroupfsLone'),
    runtime: 'kubepods',
    cgroupPath: `/kubepods/besteffort/pod6f1d0a52-2f0b-4c1e-8a9b-0d6c4b3a2e1f/${id('cgroupfsLone')}`,
  });
  assert.deepEqual(lone.pod, {
    namespace: 'batch',
    name: 'report-28712345-abcde',
    uid: '6f1d0a52-2f0b-4c1e-8a9b-0d6c4b3a2e1f',
    container: 'report',
  });
});

test('kubepods (runtime unknown from the cgroup): the runtime whose state knows the id is reported', () => {
  const info = resolver('containerd').resolve({
    id: id('coredns'),
    runtime: 'kubepods',
    cgroupPath: `/kubepods/burstable/pod01b4b887-7635-4346-9c20-58a294bbb034/${id('coredns')}`,
  });
  assert.equal(info.runtime, 'containerd');
  assert.equal(info.pod?.container, 'coredns');
});

test('cri-o: pod and container from the run root bundle annotations', () => {
  const info = resolver('crio').resolve({
    id: id('crio'),
    runtime: 'crio',
    cgroupPath: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5b5e07db_f1b9_4530_81ef_b7d04d66b83e.slice/crio-${id('crio')}.scope`,
  });
  assert.deepEqual(info, {
    id: id('crio'),
    runtime: 'crio',
    name: '',
    image: 'registry.k8s.io/coredns/coredns:v1.11.1',
    composeProject: '',
    composeService: '',
    pod: {
      namespace: 'kube-system',
      name: 'coredns-6d4b75cb6d-4mtdm',
      uid: '5b5e07db-f1b9-4530-81ef-b7d04d66b83e',
      container: 'coredns',
    },
  });
});

test('cri-o: a container known only from containers.json gets its image, not the k8s_ storage name', () => {
  const info = resolver('crio').resolve({ id: id('crioListed'), runtime: 'crio', cgroupPath: '' });
  assert.equal(info.name, '');
  assert.equal(info.image, 'registry.example/api:2.3');
});

test('podman: rootful from containers.json and volatile-containers.json (--rm)', () => {
  const names = resolver('podman');
  const root = names.resolve({
    id: id('podmanRoot'),
    runtime: 'podman',
    cgroupPath: `/machine.slice/libpod-${id('podmanRoot')}.scope/container`,
  });
  assert.equal(root.name, 'registry-cache');
  assert.equal(root.image, 'docker.io/library/registry:2');
  const volatile = names.resolve({
    id: id('podmanVolatile'),
    runtime: 'podman',
    cgroupPath: `/machine.slice/libpod-${id('podmanVolatile')}.scope/container`,
  });
  assert.equal(volatile.name, 'quirky_hopper');
  assert.equal(volatile.image, 'docker.io/library/alpine:3.20');
});

test('podman rootless: the user from the cgroup path, the storage under their home', () => {
  const info = resolver('podman').resolve({
    id: id('podmanRootless'),
    runtime: 'podman',
    cgroupPath: `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${id('podmanRootless')}.scope/container`,
  });
  assert.equal(info.name, 'dev-db');
  assert.equal(info.image, 'docker.io/library/postgres:16');
  // A passwd home with `..` in it is not followed.
  const other = resolver('podman').resolve({
    id: id('podmanRootless'),
    runtime: 'podman',
    cgroupPath: `/user.slice/user-1001.slice/user@1001.service/user.slice/libpod-${id('podmanRootless')}.scope/container`,
  });
  assert.equal(other.name, '');
});

test('an unknown id is unresolved, looked up again only after the retry delay, and filled in place', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pidflow-cnames-'));
  try {
    let now = 0;
    const names = new ContainerNames({ files: new NodeHostFiles(dir), monotonicMs: () => now });
    const cid = 'c'.repeat(64);
    const lookup = { id: cid, runtime: 'docker' as ContainerRuntime, cgroupPath: dockerScope(cid) };
    const first = names.resolve(lookup);
    assert.equal(first.name, '');
    const config = join(dir, 'var/lib/docker/containers', cid);
    mkdirSync(config, { recursive: true });
    writeFileSync(
      join(config, 'config.v2.json'),
      JSON.stringify({ ID: cid, Name: '/late', Config: { Image: 'x' } }),
    );
    assert.equal(names.resolve(lookup).name, '', 'not re-read before the retry delay');
    now += UNRESOLVED_RETRY_MS;
    const again = names.resolve(lookup);
    assert.equal(again, first, 'the same object');
    assert.equal(first.name, 'late');
    // Known names are never re-read: the container's files vanishing (it exited) keeps them.
    rmSync(config, { recursive: true });
    now += UNRESOLVED_RETRY_MS;
    assert.equal(names.resolve(lookup).name, 'late');
    // retryUnresolved (after each scan) fills an id nobody asks for again.
    const other = 'e'.repeat(64);
    const waiting = names.resolve({ ...lookup, id: other, cgroupPath: dockerScope(other) });
    mkdirSync(join(dir, 'var/lib/docker/containers', other), { recursive: true });
    writeFileSync(
      join(dir, 'var/lib/docker/containers', other, 'config.v2.json'),
      JSON.stringify({ ID: other, Name: '/later', Config: {} }),
    );
    names.retryUnresolved();
    assert.equal(waiting.name, '', 'not before its retry time');
    now += UNRESOLVED_RETRY_MS;
    names.retryUnresolved();
    assert.equal(waiting.name, 'later');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the cache is bounded: the least recently asked-for id is evicted and counted', () => {
  let reads = 0;
  const files: HostFiles = {
    readFile(path: string): HostFile {
      reads++;
      const error: NodeJS.ErrnoException = new Error(`ENOENT ${path}`);
      error.code = 'ENOENT';
      throw error;
    },
    readdir(): string[] {
      return [];
    },
    stat(path: string): never {
      const error: NodeJS.ErrnoException = new Error(`ENOENT ${path}`);
      error.code = 'ENOENT';
      throw error;
    },
  };
  const names = new ContainerNames({ files, monotonicMs: () => 0, maxContainers: 2 });
  const lookup = (n: number): { id: string; runtime: ContainerRuntime; cgroupPath: string } => ({
    id: String(n).repeat(64),
    runtime: 'docker',
    cgroupPath: '',
  });
  names.resolve(lookup(1));
  names.resolve(lookup(2));
  names.resolve(lookup(1));
  names.resolve(lookup(3));
  assert.deepEqual(
    { cached: names.stats().cached, evicted: names.stats().evicted },
    { cached: 2, evicted: 1 },
  );
  const before = reads;
  names.resolve(lookup(1));
  assert.equal(reads, before, '1 was kept (recently used): no read');
  names.resolve(lookup(2));
  assert.ok(reads > before, '2 was evicted: read again');
});

test('huge, FIFO, directory and symlinked state files are refused without blocking or reading them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pidflow-cnames-'));
  try {
    const root = join(dir, 'var/lib/docker/containers');
    const huge = 'a'.repeat(64);
    const fifo = 'b'.repeat(64);
    const folder = 'd'.repeat(64);
    const linked = 'e'.repeat(64);
    for (const cid of [huge, fifo, folder, linked]) mkdirSync(join(root, cid), { recursive: true });
    writeFileSync(
      join(root, huge, 'config.v2.json'),
      JSON.stringify({
        ID: huge,
        Name: '/huge',
        Config: { Env: ['X='.padEnd(2 * 1024 * 1024, 'x')] },
      }),
    );
    execFileSync('mkfifo', [join(root, fifo, 'config.v2.json')]);
    mkdirSync(join(root, folder, 'config.v2.json'));
    writeFileSync(join(dir, 'elsewhere.json'), JSON.stringify({ ID: linked, Name: '/linked' }));
    execFileSync('ln', ['-s', join(dir, 'elsewhere.json'), join(root, linked, 'config.v2.json')]);
    const names = resolver('', new NodeHostFiles(dir));
    for (const cid of [huge, fifo, folder, linked]) {
      assert.equal(
        names.resolve({ id: cid, runtime: 'docker', cgroupPath: '' }).name,
        '',
        cid.slice(0, 1),
      );
    }
    const stats = names.stats();
    assert.equal(stats.oversizedFiles, 1);
    assert.equal(stats.malformedFiles, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a reader that throws anything (not only errno errors) never escapes resolve', () => {
  const files: HostFiles = {
    readFile(): HostFile {
      throw new TypeError('boom');
    },
    readdir(): string[] {
      throw new RangeError('boom');
    },
    stat(): never {
      throw new Error('boom');
    },
  };
  const names = new ContainerNames({ files, monotonicMs: () => 0 });
  for (const runtime of ['docker', 'containerd', 'crio', 'podman', 'kubepods'] as const) {
    const info = names.resolve({
      id: 'f'.repeat(64),
      runtime,
      cgroupPath: '/kubepods/pod3b6b0c5e-9e5a-4a5c-8f5c-1d2e3f4a5b6c/x/user-1000.slice/',
    });
    assert.equal(info.name, '');
  }
});

test('a containers.json is parsed once per version of the file, not once per new id', () => {
  const names = resolver('podman');
  const lookup = (cid: string): { id: string; runtime: ContainerRuntime; cgroupPath: string } => ({
    id: cid,
    runtime: 'podman',
    cgroupPath: `/machine.slice/libpod-${cid}.scope/container`,
  });
  names.resolve(lookup(id('podmanRoot')));
  names.resolve(lookup('1'.repeat(64)));
  const reads = names.stats().filesRead;
  assert.equal(names.resolve(lookup('2'.repeat(64))).name, '');
  assert.equal(names.resolve(lookup(id('podmanVolatile'))).name, 'quirky_hopper');
  assert.equal(names.stats().filesRead, reads, 'both lists came from the cache');
});

test("a root dockerd's --data-root or its config file's data-root is searched too; other users' are not", () => {
  const dir = mkdtempSync(join(tmpdir(), 'pidflow-cnames-'));
  try {
    const cid = '7'.repeat(64);
    const other = '8'.repeat(64);
    for (const [root, id, name] of [
      ['srv/docker-data', cid, 'from-config'],
      ['data/docker', other, 'from-flag'],
      ['home/mallory/fake', '9'.repeat(64), 'spoofed'],
    ] as const) {
      mkdirSync(join(dir, root, 'containers', id), { recursive: true });
      writeFileSync(
        join(dir, root, 'containers', id, 'config.v2.json'),
        JSON.stringify({ ID: id, Name: `/${name}`, Config: { Image: 'x' } }),
      );
    }
    mkdirSync(join(dir, 'tmp/engine'), { recursive: true });
    writeFileSync(
      join(dir, 'tmp/engine/daemon.json'),
      JSON.stringify({ 'data-root': '/srv/docker-data/' }),
    );
    const names = new ContainerNames({ files: new NodeHostFiles(dir), monotonicMs: () => 0 });
    const lookup = (id: string): { id: string; runtime: ContainerRuntime; cgroupPath: string } => ({
      id,
      runtime: 'docker',
      cgroupPath: dockerScope(id),
    });
    const first = names.resolve(lookup(cid));
    assert.equal(first.name, '', 'not under /var/lib/docker');
    names.noteProcess({
      comm: 'dockerd',
      uid: 1001,
      cmdline: ['dockerd', '--data-root', '/home/mallory/fake'],
    });
    assert.equal(names.resolve(lookup('9'.repeat(64))).name, '', "a user's dockerd is not trusted");
    names.noteProcess({
      comm: 'dockerd',
      uid: 0,
      cmdline: ['/usr/sbin/dockerd', '--config-file', '/tmp/engine/daemon.json'],
    });
    names.retryUnresolved();
    assert.equal(first.name, 'from-config', 'filled in place at the next retry');
    names.noteProcess({
      comm: 'dockerd',
      uid: 0,
      cmdline: ['dockerd', '--data-root=/data/docker', '-H', 'fd://'],
    });
    assert.equal(names.resolve(lookup(other)).name, 'from-flag');
    names.noteProcess({ comm: 'dockerd', uid: 0, cmdline: ['dockerd', '--data-root', '/../etc'] });
    names.noteProcess({
      comm: 'nginx',
      uid: 0,
      cmdline: ['nginx', '--data-root', '/home/mallory/fake'],
    });
    assert.equal(names.resolve(lookup('9'.repeat(64))).name, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
