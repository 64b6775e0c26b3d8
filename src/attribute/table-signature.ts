// A cheap sign that a network namespace's socket tables changed: the kernel's per-namespace
// socket counters (/proc/<pid>/net/sockstat, sockstat6, snmp), a few hundred bytes that the
// kernel prints in constant time, against a sock_diag dump or /proc/net text of every socket.

import type { ProcFs } from './procfs.js';

/**
 * The counters of one namespace that move when its socket tables do, as one comparable string:
 * `inuse` of TCP, UDP and UDP-Lite over IPv4 and IPv6 (sockets hashed: listening, connected,
 * bound; sock_prot_inuse_add() on every hash and unhash) and TCP's ActiveOpens and PassiveOpens
 * (monotonic: every connect and every accepted connection, so a close and an open between two
 * reads still show). Not covered: a socket closed and another bound in its place (UDP, or a
 * listener) between two reads, which leaves every count where it was.
 * @example
 * parseTableSignature('TCP: inuse 3 orphan 0 tw 1 alloc 7 mem 1\nUDP: inuse 2 mem 0\n', '', snmp)
 * // 'TCP 3,UDP 2,Tcp 81913 23263,'
 */
export function parseTableSignature(sockstat: string, sockstat6: string, snmp: string): string {
  let signature = '';
  for (const text of [sockstat, sockstat6]) {
    for (const line of text.split('\n')) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon);
      if (!/^(TCP|UDP|UDPLITE)6?$/.test(name)) continue;
      const inuse = /\binuse (\d+)/.exec(line);
      if (inuse !== null) signature += `${name} ${inuse[1]},`;
    }
  }
  // snmp prints each MIB as a header line and a value line that both start with `Tcp:`.
  const tcp = snmp.split('\n').filter((line) => line.startsWith('Tcp:'));
  if (tcp.length >= 2) {
    const names = tcp[0]!.split(' ');
    const values = tcp[1]!.split(' ');
    const active = names.indexOf('ActiveOpens');
    const passive = names.indexOf('PassiveOpens');
    if (active > 0 && passive > 0) signature += `Tcp ${values[active]} ${values[passive]},`;
  }
  return signature;
}

/**
 * The signature of the namespace `pid` lives in (procfs shows the reading task's namespace);
 * undefined when the process is gone or the counters cannot be read (the caller then scans).
 */
export function readTableSignature(procFs: ProcFs, pid: number): string | undefined {
  const base = `/proc/${pid}/net`;
  try {
    const sockstat = procFs.readText(`${base}/sockstat`);
    const snmp = procFs.readText(`${base}/snmp`);
    let sockstat6 = '';
    try {
      sockstat6 = procFs.readText(`${base}/sockstat6`);
    } catch {
      // No IPv6 in this kernel: nothing to count there.
    }
    const signature = parseTableSignature(sockstat, sockstat6, snmp);
    return signature === '' ? undefined : signature;
  } catch {
    return undefined;
  }
}
