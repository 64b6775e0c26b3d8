// The container label of text output and the TUI: pod path, name, short id; and the text
// table showing an owner-chosen name escaped and cut.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContainerInfo } from '../monitor/types.js';
import { containerLabel, containerSearchText } from '../present/container-label.js';
import {
  makeProcessEntry,
  makeProcessInfo,
  makeSnapshot,
} from '../../test/helpers/fake-monitor.js';
import { IntervalTracker, buildNdjsonRecord } from './ndjson.js';
import { formatTextTable } from './text-table.js';

const ID = '3577f6a76855d90ab04f20fe9e5f9502f342be5bf655977e6717ce3cae65fc13';
const base: ContainerInfo = {
  id: ID,
  runtime: 'docker',
  name: '',
  image: '',
  composeProject: '',
  composeService: '',
  pod: null,
};

test('a pod container is namespace/pod/container, a named one its name, else the short id', () => {
  const pod = {
    namespace: 'kube-system',
    name: 'coredns-76f75df574-w4b72',
    uid: 'u',
    container: 'coredns',
  };
  assert.equal(
    containerLabel({ ...base, pod }, ID),
    'kube-system/coredns-76f75df574-w4b72/coredns',
  );
  assert.equal(
    containerLabel({ ...base, pod: { ...pod, container: '' } }, ID),
    'kube-system/coredns-76f75df574-w4b72',
  );
  assert.equal(containerLabel({ ...base, pod: { ...pod, name: '' }, name: 'n' }, ID), 'n');
  assert.equal(containerLabel({ ...base, name: 'shop-web-1' }, ID), 'shop-web-1');
  assert.equal(containerLabel(base, ID), '3577f6a76855');
  assert.equal(containerLabel(undefined, ID), '3577f6a76855');
  assert.equal(containerLabel(undefined, null), '');
  assert.equal(
    containerSearchText({ ...base, name: 'Web', image: 'NGINX:1', composeProject: 'shop' }, ID),
    `${ID} docker web nginx:1 shop`,
  );
});

test('the text table shows an owner-chosen container name escaped and cut to 48 cells', () => {
  const name = `\x1b[2J\x1b]0;owned\x07${'x'.repeat(300)}`;
  const info = makeProcessInfo(7, 'sh', {
    containerId: ID,
    containerRuntime: 'docker',
    container: { ...base, name },
  });
  const snapshot = makeSnapshot({
    processes: [makeProcessEntry(info, { sentBytes: 10, receivedBytes: 10 })],
  });
  const record = buildNdjsonRecord(snapshot, new IntervalTracker(), { pids: [], names: [] });
  const text = formatTextTable(record, 'interval 1.0s', false);
  const row = text.split('\n').find((l) => l.includes('owned')) ?? '';
  assert.ok(row.includes('\\x1b[2J\\x1b]0;owned\\x07'), row);
  assert.doesNotMatch(row, /\x1b/); // eslint-disable-line no-control-regex
  assert.ok(row.includes('…'), row);
});
