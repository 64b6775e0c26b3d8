// Entry point of the traffic worker inside a test container: the container's address is known
// only once it runs, so a spec address `eth0` is replaced with eth0's IPv4 address before the
// worker (traffic-worker.ts, imported in this same process: its pid stays the container's init).

import { networkInterfaces } from 'node:os';

const spec = JSON.parse(process.argv[2] ?? '{}') as { address?: string };
if (spec.address === 'eth0') {
  const eth0 = networkInterfaces()['eth0']?.find((a) => a.family === 'IPv4');
  if (eth0 === undefined) throw new Error('container worker: eth0 has no IPv4 address');
  spec.address = eth0.address;
  process.argv[2] = JSON.stringify(spec);
}
await import('./traffic-worker.js');
