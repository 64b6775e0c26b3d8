// Process identity: stat parsing, container patterns of each runtime (literal cgroup lines),
// and whole-process reads from the multi-ns fake /proc tree.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import { FakeProcFs, containerFixture, procFixture } from '../../test/helpers/fake-procfs.js';
import { ContainerNames } from './containers/container-names.js';
import { NodeHostFiles } from './host-files.js';
import {
  parseContainer,
  parseNamespaceLink,
  parsePasswd,
  parseProcessStat,
  pickCgroupPath,
  readProcessInfo,
} from './process-info.js';
import { NodeProcFs } from './procfs.js';

test('parses stat with spaces and parentheses in comm, counting fields from the last )', () => {
  const line =
    '4242 (tmux: server (1)) S 1 4242 4242 0 -1 4194624 389 0 0 0 5 3 0 0 20 0 1 0 987654 9863168 848 18446744073709551615 1 1 0 0 0 0 0 3674112 134433283 0 0 0 17 1 0 0 0 0 0\n';
  assert.deepEqual(parseProcessStat(line), {
    pid: 4242,
    ppid: 1,
    startTime: 987654,
    comm: 'tmux: server (1)',
  });
  assert.equal(parseProcessStat('4242 (x) S 1 2'), undefined);
  assert.equal(parseProcessStat('garbage'), undefined);
});

const ID = 'f'.repeat(16) + '0123456789abcdef'.repeat(3);

const containerCases: [string, string, string | undefined][] = [
  ['docker, systemd driver', `/system.slice/docker-${ID}.scope`, 'docker'],
  ['docker, cgroupfs driver (v1 line path)', `/docker/${ID}`, 'docker'],
  [
    'containerd under kubepods, systemd driver',
    `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6a1c_5d.slice/cri-containerd-${ID}.scope`,
    'containerd',
  ],
  [
    'cri-o',
    `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podab.slice/crio-${ID}.scope`,
    'crio',
  ],
  [
    'podman rootless',
    `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope/container`,
    'podman',
  ],
  [
    'kubepods, cgroupfs driver',
    `/kubepods/besteffort/pod0d3b8c2e-44aa-4b1c-9d2e-1f2e3d4c5b6a/${ID}`,
    'kubepods',
  ],
  ['cri-o conmon is not the container', `/system.slice/crio-conmon-${ID}.scope`, undefined],
  ['podman conmon is not the container', `/user.slice/libpod-conmon-${ID}.scope`, undefined],
  ['a plain service', '/system.slice/nginx.service', undefined],
  ['a short id is not a container', '/docker/abc123', undefined],
];

for (const [name, path, runtime] of containerCases) {
  test(`container pattern: ${name}`, () => {
    const found = parseContainer(path);
    if (runtime === undefined) assert.equal(found, undefined);
    else assert.deepEqual(found, { id: ID, runtime });
  });
}

test('picks the cgroup line naming a container, else the v2 line', () => {
  assert.equal(
    pickCgroupPath(`12:pids:/docker/${ID}\n11:memory:/docker/${ID}\n0::/docker/${ID}\n`),
    `/docker/${ID}`,
  );
  assert.equal(
    pickCgroupPath('1:name=systemd:/user.slice\n0::/user.slice/session-3.scope\n'),
    '/user.slice/session-3.scope',
  );
  assert.equal(pickCgroupPath(''), '');
});

test('parses namespace links and passwd', () => {
  assert.equal(parseNamespaceLink('net:[4026531840]'), 4026531840);
  assert.equal(parseNamespaceLink('garbage'), 0);
  assert.deepEqual(
    [
      ...parsePasswd(
        'root:x:0:0:root:/root:/bin/bash\n# comment\nbad\nwww-data:x:33:33::/:/bin/false\n',
      ),
    ],
    [
      [0, 'root'],
      [33, 'www-data'],
    ],
  );
});

test('reads a whole process from a fake /proc tree', () => {
  const procFs = new NodeProcFs(procFixture('multi-ns'));
  const stat = parseProcessStat(procFs.readText('/proc/100/stat'));
  assert.ok(stat);
  const users = parsePasswd(procFs.readText('/etc/passwd'));
  const result = readProcessInfo(procFs, stat, (uid) => users.get(uid) ?? String(uid));
  assert.equal(result.status, 'ok');
  if (result.status !== 'ok') return;
  assert.deepEqual(result.info, {
    key: '100:5100',
    pid: 100,
    ppid: 1,
    comm: 'nginx',
    exe: '/usr/bin/nginx',
    cmdline: ['/usr/bin/nginx', '--flag'],
    uid: 33,
    user: 'www-data',
    startTime: 5100,
    cgroup: '/system.slice/nginx.service',
    containerId: null,
    containerRuntime: null,
    netns: 4026531840,
  });
});

test('reads the container of each runtime from the fake /proc tree', () => {
  const procFs = new NodeProcFs(procFixture('multi-ns'));
  const runtimes = new Map<number, string | null>();
  for (const pid of [200, 300, 301, 302, 303, 304]) {
    const stat = parseProcessStat(procFs.readText(`/proc/${pid}/stat`));
    assert.ok(stat);
    const result = readProcessInfo(procFs, stat, String);
    assert.equal(result.status, 'ok');
    if (result.status === 'ok') runtimes.set(pid, result.info.containerRuntime);
  }
  assert.deepEqual(Object.fromEntries(runtimes), {
    200: 'docker',
    300: 'containerd',
    301: 'kubepods',
    302: 'crio',
    303: 'podman',
    304: 'docker',
  });
});

test('a process that vanished reads as vanished, not an error', () => {
  const procFs = new NodeProcFs(procFixture('multi-ns'));
  const result = readProcessInfo(procFs, { pid: 999, ppid: 1, startTime: 1, comm: 'gone' }, String);
  assert.equal(result.status, 'vanished');
});

test('a --network host container process carries its container and names, in the host namespace', () => {
  const ids = JSON.parse(readFileSync(containerFixture('ids.json'), 'utf8')) as Record<
    string,
    string
  >;
  const id = ids['dockerHost']!;
  const procFs = new FakeProcFs();
  const hostNetns = 4026531840;
  procFs.addProcess({ pid: 1, comm: 'init', netns: hostNetns });
  procFs.addProcess({
    pid: 700,
    comm: 'python3',
    netns: hostNetns,
    cgroup: `12:pids:/docker/${id}\n0::/system.slice/docker-${id}.scope\n`,
  });
  const names = new ContainerNames({
    files: new NodeHostFiles(containerFixture('docker')),
    monotonicMs: () => 0,
  });
  const result = readProcessInfo(
    procFs,
    { pid: 700, ppid: 1, startTime: 1700, comm: 'python3' },
    String,
    names,
  );
  assert.equal(result.status, 'ok');
  if (result.status !== 'ok') return;
  assert.equal(result.info.netns, hostNetns);
  assert.equal(result.info.containerId, id);
  assert.equal(result.info.containerRuntime, 'docker');
  assert.equal(result.info.container?.name, 'netdebug');
  assert.equal(result.info.container?.image, 'localhost/pidflow-test:1');
});

test('a kubepods (cgroupfs driver) process reports the runtime whose state knew its id', () => {
  const ids = JSON.parse(readFileSync(containerFixture('ids.json'), 'utf8')) as Record<
    string,
    string
  >;
  const id = ids['coredns']!;
  const procFs = new FakeProcFs();
  procFs.addProcess({
    pid: 800,
    comm: 'coredns',
    cgroup: `0::/kubepods/burstable/pod01b4b887-7635-4346-9c20-58a294bbb034/${id}\n`,
  });
  const names = new ContainerNames({
    files: new NodeHostFiles(containerFixture('containerd')),
    monotonicMs: () => 0,
  });
  const result = readProcessInfo(
    procFs,
    { pid: 800, ppid: 1, startTime: 1800, comm: 'coredns' },
    String,
    names,
  );
  assert.equal(result.status === 'ok' && result.info.containerRuntime, 'containerd');
  assert.equal(
    result.status === 'ok' && result.info.container?.pod?.name,
    'coredns-76f75df574-w4b72',
  );
});
