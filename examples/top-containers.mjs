// Prints the busiest containers by name every second for five seconds, using the public API.
// Names (pod, container, image) are chosen by the containers' owners: printed as JSON strings,
// never raw to the terminal. Run as root: node examples/top-containers.mjs [device...]
import { createMonitor } from 'pidflow';

const devices = process.argv.slice(2);
const monitor = await createMonitor({
  ...(devices.length > 0 ? { devices } : { includeLoopback: true }),
  captureTimeoutMs: 5_000,
});

/** namespace/pod/container in Kubernetes, else the container's name, else its short id. */
function label(entry) {
  if (entry.containerId === '') return '(host)';
  const c = entry.container;
  if (c?.pod) return [c.pod.namespace, c.pod.name, c.pod.container].filter(Boolean).join('/');
  return c?.name || entry.containerId.slice(0, 12);
}

monitor.on('tick', (snapshot) => {
  const top = monitor.rank({ groupBy: 'container', limit: 3, windowSeconds: 1 });
  const line = top
    .map(
      (e) =>
        `${JSON.stringify(label(e))} ${e.containerRuntime ?? 'host'} ↑${e.window.sentBytes} ↓${e.window.receivedBytes}`,
    )
    .join('  ');
  console.log(`${new Date(snapshot.time).toISOString()} ${line || '(no traffic)'}`);
});
monitor.start();
const end = await monitor.done;
const names = monitor.stats().containerNames;
console.log(
  `ended: ${end.reason}; containers named ${(names?.cached ?? 0) - (names?.unresolved ?? 0)} of ${names?.cached ?? 0}`,
);
