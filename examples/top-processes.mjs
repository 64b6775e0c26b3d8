// Prints the three busiest processes every second for five seconds, using the public API.
// Run as root: node examples/top-processes.mjs [device...]
import { createMonitor } from 'pidflow';

const devices = process.argv.slice(2);
const monitor = await createMonitor({
  ...(devices.length > 0 ? { devices } : { includeLoopback: true }),
  captureTimeoutMs: 5_000,
});
monitor.on('tick', (snapshot) => {
  const top = monitor.rank({ limit: 3, windowSeconds: 1 });
  const line = top
    .map(
      (e) =>
        `${e.process.comm}[${e.process.pid}] ↑${e.window.sentBytes} ↓${e.window.receivedBytes}`,
    )
    .join('  ');
  console.log(`${new Date(snapshot.time).toISOString()} ${line || '(no traffic)'}`);
});
monitor.start();
const end = await monitor.done;
const stats = monitor.stats();
console.log(
  `ended: ${end.reason}; packets seen ${stats.seen.packets}, attributed ${stats.attributed.packets}, unknown ${stats.unknown.packets}`,
);
