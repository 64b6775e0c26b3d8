import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeProcFs } from '../../test/helpers/fake-procfs.js';
import { parseTableSignature, readTableSignature } from './table-signature.js';

// As Linux 6.18 prints them (net/ipv4/proc.c, net/ipv6/proc.c).
const SOCKSTAT =
  'sockets: used 53\nTCP: inuse 3 orphan 0 tw 10000 alloc 7003 mem 125\nUDP: inuse 2 mem 1\n' +
  'UDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n';
const SOCKSTAT6 =
  'TCP6: inuse 1\nUDP6: inuse 0\nUDPLITE6: inuse 0\nRAW6: inuse 0\nFRAG6: inuse 0 memory 0\n';
const SNMP =
  'Ip: Forwarding DefaultTTL\nIp: 1 64\n' +
  'Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs\n' +
  'Tcp: 1 200 120000 -1 81913 23263 97 58 0 1766947\n' +
  'Udp: InDatagrams NoPorts\nUdp: 5 6\n';

test('the signature keeps socket counts and TCP opens, not traffic or global counters', () => {
  assert.equal(
    parseTableSignature(SOCKSTAT, SOCKSTAT6, SNMP),
    'TCP 3,UDP 2,UDPLITE 0,TCP6 1,UDP6 0,UDPLITE6 0,Tcp 81913 23263,',
  );
  // Time-wait sockets, memory, the host-wide `sockets: used` and UDP traffic move all the time.
  const busy = parseTableSignature(
    SOCKSTAT.replace('used 53', 'used 99').replace('tw 10000', 'tw 3').replace('mem 125', 'mem 9'),
    SOCKSTAT6,
    SNMP.replace('Udp: 5 6', 'Udp: 500 6'),
  );
  assert.equal(busy, parseTableSignature(SOCKSTAT, SOCKSTAT6, SNMP));
});

test('a socket bound, a listener closed or a connection opened and closed changes the signature', () => {
  const before = parseTableSignature(SOCKSTAT, SOCKSTAT6, SNMP);
  assert.notEqual(
    parseTableSignature(SOCKSTAT.replace('inuse 2', 'inuse 3'), SOCKSTAT6, SNMP),
    before,
  );
  assert.notEqual(
    parseTableSignature(SOCKSTAT, SOCKSTAT6.replace('TCP6: inuse 1', 'TCP6: inuse 0'), SNMP),
    before,
  );
  // Same number in use, but one connect happened in between.
  assert.notEqual(parseTableSignature(SOCKSTAT, SOCKSTAT6, SNMP.replace('81913', '81914')), before);
});

test('reading: through the process, without sockstat6 when IPv6 is absent, undefined when gone', () => {
  const procFs = new FakeProcFs();
  procFs.setFile('/proc/7/net/sockstat', SOCKSTAT);
  procFs.setFile('/proc/7/net/snmp', SNMP);
  assert.equal(readTableSignature(procFs, 7), 'TCP 3,UDP 2,UDPLITE 0,Tcp 81913 23263,');
  assert.equal(readTableSignature(procFs, 8), undefined);
  assert.equal(parseTableSignature('garbage', '', 'Tcp: x\n'), '');
});
