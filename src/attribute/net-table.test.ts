// Table tests of the /proc/net parser with literal lines captured from a Linux 6.18 x86_64 host.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  PROTOCOL_TCP,
  PROTOCOL_UDP,
  TcpState,
  formatIPv6,
  parseIfInet6Address,
  parseNetTable,
  parseNetTableLine,
} from './net-table.js';

const TCP_HEADER =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     \n';
const TCP6_HEADER =
  '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';

const cases: {
  name: string;
  protocol: number;
  line: string;
  expected: Record<string, unknown> | undefined;
}[] = [
  {
    name: 'tcp listener on 127.0.0.1:18080',
    protocol: PROTOCOL_TCP,
    line: '   1: 0100007F:46A0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 22073 1 00000000a61a73a5 100 0 0 10 0                     ',
    expected: {
      ipVersion: 4,
      localAddress: '127.0.0.1',
      localPort: 18080,
      remoteAddress: '0.0.0.0',
      remotePort: 0,
      state: TcpState.listen,
      uid: 0,
      inode: 22073,
    },
  },
  {
    name: 'tcp established client 127.0.0.1:49314 -> 127.0.0.1:18081',
    protocol: PROTOCOL_TCP,
    line: '   5: 0100007F:C0A2 0100007F:46A1 01 00000000:00000000 00:00000000 00000000     0        0 21502 2 00000000b0691d8f 20 0 0 10 -1                     ',
    expected: {
      localAddress: '127.0.0.1',
      localPort: 49314,
      remoteAddress: '127.0.0.1',
      remotePort: 18081,
      state: TcpState.established,
      inode: 21502,
    },
  },
  {
    name: 'tcp TIME_WAIT has inode 0',
    protocol: PROTOCOL_TCP,
    line: '  10: 0100007F:46AB 0100007F:AE2C 06 00000000:00000000 03:0000175C 00000000     0        0 0 3 00000000519137bb                                      ',
    expected: { localPort: 18091, remotePort: 44588, state: TcpState.timeWait, inode: 0 },
  },
  {
    name: 'tcp6 dual-stack listener on ::',
    protocol: PROTOCOL_TCP,
    line: '   0: 00000000000000000000000000000000:46A1 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 22074 1 000000004dbce25a 100 0 0 10 0',
    expected: {
      ipVersion: 6,
      localAddress: '::',
      localPort: 18081,
      remoteAddress: '::',
      remotePort: 0,
      state: TcpState.listen,
      inode: 22074,
    },
  },
  {
    name: 'tcp6 ::1 connection',
    protocol: PROTOCOL_TCP,
    line: '   1: 00000000000000000000000001000000:46A1 00000000000000000000000001000000:B44A 01 00000000:00000000 00:00000000 00000000     0        0 22529 1 0000000028e98442 20 0 0 10 -1',
    expected: {
      ipVersion: 6,
      localAddress: '::1',
      localPort: 18081,
      remoteAddress: '::1',
      remotePort: 46154,
      inode: 22529,
    },
  },
  {
    name: 'tcp6 IPv4-mapped ::ffff:127.0.0.1 is normalised to IPv4',
    protocol: PROTOCOL_TCP,
    line: '   2: 0000000000000000FFFF00000100007F:46A1 0000000000000000FFFF00000100007F:C0A2 01 00000000:00000000 00:00000000 00000000     0        0 21503 1 00000000f96cfb58 20 0 0 10 -1',
    expected: {
      ipVersion: 4,
      localAddress: '127.0.0.1',
      localPort: 18081,
      remoteAddress: '127.0.0.1',
      remotePort: 49314,
      inode: 21503,
    },
  },
  {
    name: 'udp unconnected on 0.0.0.0:18053 (remote 0:0, state 07)',
    protocol: PROTOCOL_UDP,
    line: '12955: 00000000:4685 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 23051 2 0000000005faea98 0         ',
    expected: {
      protocol: PROTOCOL_UDP,
      localAddress: '0.0.0.0',
      localPort: 18053,
      remoteAddress: '0.0.0.0',
      remotePort: 0,
      state: 7,
      inode: 23051,
    },
  },
  {
    name: 'udp6 connected ::1:18054 -> ::1:18055',
    protocol: PROTOCOL_UDP,
    line: '12956: 00000000000000000000000001000000:4686 00000000000000000000000001000000:4687 01 00000000:00000000 00:00000000 00000000     0        0 23052 2 0000000025fd2b5a 0',
    expected: { localAddress: '::1', localPort: 18054, remoteAddress: '::1', remotePort: 18055 },
  },
  {
    name: 'uid column is read',
    protocol: PROTOCOL_TCP,
    line: '   3: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 555 1 0000000000000000 100 0 0 10 0',
    expected: { uid: 1000, localPort: 8080, inode: 555 },
  },
  {
    name: 'truncated line',
    protocol: PROTOCOL_TCP,
    line: '   1: 0100007F:46A0 00000000:0000 0A',
    expected: undefined,
  },
  {
    name: 'truncated address',
    protocol: PROTOCOL_TCP,
    line: '   1: 0100007:46A0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 22073 1',
    expected: undefined,
  },
  {
    name: 'garbage',
    protocol: PROTOCOL_TCP,
    line: 'hello world this is not a socket line at all, really',
    expected: undefined,
  },
  {
    name: 'non-hex port',
    protocol: PROTOCOL_TCP,
    line: '   1: 0100007F:46ZZ 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 22073 1',
    expected: undefined,
  },
  {
    name: 'non-numeric inode',
    protocol: PROTOCOL_TCP,
    line: '   1: 0100007F:46A0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 abc 1',
    expected: undefined,
  },
];

for (const c of cases) {
  test(`parses ${c.name}`, () => {
    const entry = parseNetTableLine(c.line, c.protocol);
    if (c.expected === undefined) {
      assert.equal(entry, undefined);
      return;
    }
    assert.ok(entry, 'line should parse');
    for (const [field, value] of Object.entries(c.expected)) {
      assert.equal((entry as unknown as Record<string, unknown>)[field], value, field);
    }
  });
}

test('a header-only file gives an empty table', () => {
  assert.deepEqual(parseNetTable(TCP6_HEADER, PROTOCOL_TCP), { entries: [], malformedLines: 0 });
  assert.deepEqual(parseNetTable('', PROTOCOL_TCP), { entries: [], malformedLines: 0 });
});

test('bad lines are counted and parsing goes on', () => {
  const text =
    TCP_HEADER +
    '   1: 0100007F:46A0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 22073 1 00000000a61a73a5 100 0 0 10 0\n' +
    'garbage garbage\n' +
    '   5: 0100007F:C0A2 0100007F:46A1 01 00000000:00000000 00:00000000 00000000     0        0 21502 2 00000000b0691d8f 20 0 0 10 -1\n' +
    '   6: 0100007F:C0A2 0100007F:46'; // truncated mid-read
  const table = parseNetTable(text, PROTOCOL_TCP);
  assert.deepEqual(
    table.entries.map((e) => e.inode),
    [22073, 21502],
  );
  assert.equal(table.malformedLines, 2);
});

test('formats IPv6 addresses as RFC 5952 text', () => {
  const bytes = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'));
  assert.equal(formatIPv6(bytes('fd426e66000000000000000000000001')), 'fd42:6e66::1');
  assert.equal(formatIPv6(bytes('00000000000000000000000000000000')), '::');
  assert.equal(formatIPv6(bytes('20010db8000000010000000000000001')), '2001:db8:0:1::1');
  assert.equal(formatIPv6(bytes('20010db8000100000001000000000001')), '2001:db8:1:0:1::1');
  assert.equal(formatIPv6(bytes('fe800000000000000000000000000000')), 'fe80::');
  assert.equal(formatIPv6(bytes('00000000000000000000ffffc6120001')), '198.18.0.1');
  // Longest zero run wins; on a tie the first one.
  assert.equal(formatIPv6(bytes('20010db8000000000001000000000000')), '2001:db8:0:0:1::');
  assert.equal(formatIPv6(bytes('20010db8000000000001000000000001')), '2001:db8::1:0:0:1');
});

test('parses if_inet6 addresses (network order)', () => {
  assert.equal(parseIfInet6Address('fd000000000000000000000000000002'), 'fd00::2');
  assert.equal(parseIfInet6Address('00000000000000000000000000000001'), '::1');
  assert.equal(parseIfInet6Address('fe8000000000000000fc00fffe000001'), 'fe80::fc:ff:fe00:1');
  assert.equal(parseIfInet6Address('xyz'), undefined);
});
