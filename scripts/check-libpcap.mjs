// Before the native build: check that libpcap's (and the kernel's netlink) headers are installed and say how to get them,
// instead of a compiler error deep in node-gyp's output.
import { existsSync } from 'node:fs';

const headers = ['/usr/include/pcap/pcap.h', '/usr/local/include/pcap/pcap.h'];
if (!headers.some((p) => existsSync(p))) {
  console.error(
    `pidflow: libpcap development headers not found (looked for ${headers.join(', ')}).\n` +
      'Install them, then run `npm run build:native`:\n  apt-get install -y libpcap-dev',
  );
  process.exit(1);
}

// The conntrack reader (native/conntrack.cc) speaks ctnetlink with the kernel's own UAPI
// headers, no library: they come with linux-libc-dev (pulled in by libc6-dev / g++).
const conntrackHeader = '/usr/include/linux/netfilter/nfnetlink_conntrack.h';
if (!existsSync(conntrackHeader)) {
  console.error(
    `pidflow: the kernel's netlink headers are missing (${conntrackHeader}).\n` +
      'Install them, then run `npm run build:native`:\n  apt-get install -y linux-libc-dev',
  );
  process.exit(1);
}
