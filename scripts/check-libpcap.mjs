// Before the native build: check that libpcap's headers are installed and say how to get them,
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
