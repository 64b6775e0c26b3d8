// Table tests of the state-file parsers with literal inputs: pod uids in cgroup paths of both
// kubelet cgroup drivers, kubelet log names, passwd homes, bounded strings, JSON shapes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  boundedString,
  parseCgroupUserUid,
  parseContainerLogName,
  parseDockerConfig,
  parseOciConfig,
  parsePasswdHome,
  parsePodLogDir,
  parsePodUid,
  parseStorageContainers,
} from './state-parsers.js';

const ID = '3577f6a76855d90ab04f20fe9e5f9502f342be5bf655977e6717ce3cae65fc13';

test('pod uid from kubepods cgroup paths of both drivers, guaranteed QoS and static pods', () => {
  const cases: [string, string | undefined][] = [
    [
      `/kubepods/burstable/pod3b6b0c5e-9e5a-4a5c-8f5c-1d2e3f4a5b6c/${ID}`,
      '3b6b0c5e-9e5a-4a5c-8f5c-1d2e3f4a5b6c',
    ],
    [
      `/kubepods/pod3b6b0c5e-9e5a-4a5c-8f5c-1d2e3f4a5b6c/${ID}`,
      '3b6b0c5e-9e5a-4a5c-8f5c-1d2e3f4a5b6c',
    ],
    [
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod81e09ae0_12ec_4ec5_94b8_51cda7906370.slice/cri-containerd-${ID}.scope`,
      '81e09ae0-12ec-4ec5-94b8-51cda7906370',
    ],
    [
      `/kubepods.slice/kubepods-pod81e09ae0_12ec_4ec5_94b8_51cda7906370.slice/crio-${ID}.scope`,
      '81e09ae0-12ec-4ec5-94b8-51cda7906370',
    ],
    [
      `/kubepods/burstable/pod33d556edd3ae8ef21980288cef77ae8b/${ID}`,
      '33d556edd3ae8ef21980288cef77ae8b',
    ],
    [`/system.slice/docker-${ID}.scope`, undefined],
    ['/kubepods/burstable/podnot-a-uid/x', undefined],
  ];
  for (const [path, uid] of cases) assert.equal(parsePodUid(path), uid, path);
});

test('kubelet log link names: pod, namespace, container (dashes in the container name kept)', () => {
  assert.deepEqual(parseContainerLogName(`kube-proxy-6xsx9_kube-system_kube-proxy-${ID}.log`, ID), {
    podName: 'kube-proxy-6xsx9',
    podNamespace: 'kube-system',
    podContainer: 'kube-proxy',
  });
  assert.equal(parseContainerLogName(`a_b_c-${'0'.repeat(64)}.log`, ID), undefined);
  assert.equal(parseContainerLogName(`nounderscores-${ID}.log`, ID), undefined);
  assert.equal(parseContainerLogName(`_b_c-${ID}.log`, ID), undefined);
  assert.deepEqual(
    parsePodLogDir('kube-system_coredns-76f75df574-w4b72_01b4b887-7635-4346-9c20-58a294bbb034'),
    {
      namespace: 'kube-system',
      name: 'coredns-76f75df574-w4b72',
      uid: '01b4b887-7635-4346-9c20-58a294bbb034',
    },
  );
  assert.equal(parsePodLogDir('nounderscore'), undefined);
});

test('rootless user from the cgroup path and home from passwd (no relative or .. homes)', () => {
  assert.equal(
    parseCgroupUserUid('/user.slice/user-1000.slice/user@1000.service/app.slice/x'),
    1000,
  );
  assert.equal(parseCgroupUserUid('/system.slice/x'), undefined);
  const passwd =
    'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\nbad:x:1001:1001::home:/bin/sh\nevil:x:1002:1::/home/../etc:/bin/sh\n';
  assert.equal(parsePasswdHome(passwd, 1000), '/home/alice');
  assert.equal(parsePasswdHome(passwd, 1001), undefined);
  assert.equal(parsePasswdHome(passwd, 1002), undefined);
  assert.equal(parsePasswdHome(passwd, 4242), undefined);
});

test('bounded strings: non-strings are empty, long ones cut without splitting a surrogate pair', () => {
  assert.equal(boundedString(42, 10), '');
  assert.equal(boundedString(null, 10), '');
  assert.equal(boundedString('abc', 10), 'abc');
  assert.equal(boundedString('abcdef', 3), 'abc');
  assert.equal(boundedString('ab\u{1F600}', 3), 'ab');
});

test('JSON of the wrong shape reads as unknown, never throws; __proto__ keys stay data', () => {
  assert.equal(parseDockerConfig('', ID), undefined);
  assert.equal(parseDockerConfig('null', ID), undefined);
  assert.equal(parseDockerConfig('"text"', ID), undefined);
  assert.equal(parseDockerConfig(`{"ID":"${ID}","Config":"not an object"}`, ID)?.image, undefined);
  const proto = parseDockerConfig(
    `{"ID":"${ID}","Name":"/n","Config":{"Labels":{"__proto__":{"polluted":1}}}}`,
    ID,
  );
  assert.equal(proto?.name, 'n');
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  assert.equal(parseOciConfig('[]'), undefined);
  assert.deepEqual(parseOciConfig('{"annotations":[1]}'), {});
  assert.equal(parseStorageContainers('{"id":1}', ID), undefined);
  assert.equal(
    parseStorageContainers(`[null, 3, {"id":"${ID}","names":"x","metadata":"{bad"}]`, ID)?.name,
    undefined,
  );
  const deep = '['.repeat(100000) + ']'.repeat(100000);
  assert.equal(parseStorageContainers(deep, ID), undefined);
});
