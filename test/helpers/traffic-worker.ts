// Child-process traffic generator with a known pid: runs one role given as a JSON argument,
// prints `{"type":"ready",...}` once listening and `{"type":"report",...}` with every socket's
// endpoints and payload counts when done, then lingers until stdin closes (bounded).

import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket } from 'node:dgram';
import { createConnection, createServer } from 'node:net';
import type { Socket as TcpSocket } from 'node:net';
import { isTestAddress } from './netns.js';
import type { SocketReport, WorkerReport, WorkerSpec } from './traffic-types.js';

/** Hard bound on any worker's life, whatever its spec says. */
const MAX_WORKER_LIFE_MS = 120_000;

function emit(message: object): void {
  process.stdout.write(JSON.stringify(message) + '\n');
}

function checkAddress(address: string): void {
  if (!isTestAddress(address)) {
    throw new Error(
      `traffic worker refuses ${address}: only 198.18.0.0/24, fd42:6e66::/64, loopback`,
    );
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function tcpReport(socket: TcpSocket, sent: number, received: number): SocketReport {
  return {
    protocol: 'tcp',
    localAddress: socket.localAddress ?? '',
    localPort: socket.localPort ?? 0,
    remoteAddress: socket.remoteAddress ?? null,
    remotePort: socket.remotePort ?? 0,
    sentPayloadBytes: sent,
    receivedPayloadBytes: received,
    sentDatagrams: 0,
    receivedDatagrams: 0,
  };
}

async function tcpServer(
  spec: Extract<WorkerSpec, { role: 'tcp-server' }>,
): Promise<SocketReport[]> {
  checkAddress(spec.address);
  const sockets: SocketReport[] = [];
  const peerPids: Record<string, number> = {};
  let open = 0;
  let finished = 0;
  const server = createServer((socket) => {
    open++;
    const local = { address: socket.localAddress, port: socket.localPort };
    const remote = { address: socket.remoteAddress, port: socket.remotePort };
    let received = 0;
    let sent = 0;
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (spec.pidLine === true && head.length < 32 && !head.includes('\n')) {
        head += chunk.toString('latin1', 0, Math.min(chunk.length, 32));
      }
    });
    socket.on('end', () => {
      if (spec.replyBytes > 0) {
        sent = spec.replyBytes;
        socket.end(Buffer.alloc(spec.replyBytes, 0x62));
      } else socket.end();
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      open--;
      finished++;
      const report: SocketReport = {
        protocol: 'tcp',
        localAddress: local.address ?? '',
        localPort: local.port ?? 0,
        remoteAddress: remote.address ?? null,
        remotePort: remote.port ?? 0,
        sentPayloadBytes: sent,
        receivedPayloadBytes: received,
        sentDatagrams: 0,
        receivedDatagrams: 0,
      };
      const pid = Number.parseInt(head.split('\n')[0] ?? '', 10);
      if (spec.pidLine === true && Number.isInteger(pid)) {
        peerPids[`${report.remoteAddress}|${report.remotePort}`] = pid;
        report.peerPid = pid;
      }
      sockets.push(report);
      if (finished >= spec.connections) server.close();
    });
  });
  server.maxConnections = spec.connections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: spec.address, port: spec.port, backlog: 1024 }, resolve);
  });
  const addr = server.address();
  emit({ type: 'ready', pid: process.pid, port: typeof addr === 'object' && addr ? addr.port : 0 });
  const deadline = Date.now() + spec.durationMs;
  while (finished < spec.connections && Date.now() < deadline) await sleep(20);
  server.close();
  if (open > 0) await sleep(200);
  return sockets;
}

async function oneTcpConnection(
  spec: Extract<WorkerSpec, { role: 'tcp-client' }>,
  reports: SocketReport[],
): Promise<void> {
  await new Promise<void>((resolve) => {
    const socket = createConnection({ host: spec.address, port: spec.port });
    let received = 0;
    let info: SocketReport | undefined;
    socket.on('connect', () => {
      info = tcpReport(socket, 0, 0);
      if ((spec.holdMs ?? 0) > 0) setTimeout(startSending, spec.holdMs);
      else startSending();
    });
    const startSending = (): void => {
      const chunk = Buffer.alloc(Math.min(spec.sendBytes, 65536), 0x61);
      let left = spec.sendBytes;
      const pump = (): void => {
        while (left > 0) {
          const n = Math.min(left, chunk.length);
          left -= n;
          if (!socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
            socket.once('drain', pump);
            return;
          }
        }
        socket.end();
      };
      pump();
    };
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', (hadError) => {
      if (info !== undefined) {
        info.sentPayloadBytes = hadError ? socket.bytesWritten : spec.sendBytes;
        info.receivedPayloadBytes = received;
        reports.push(info);
      }
      resolve();
    });
  });
}

async function tcpClient(
  spec: Extract<WorkerSpec, { role: 'tcp-client' }>,
): Promise<SocketReport[]> {
  checkAddress(spec.address);
  // Monitors that capture on this process's own veth open once it exists: give them time.
  if ((spec.startDelayMs ?? 0) > 0) await sleep(Math.min(spec.startDelayMs ?? 0, 30_000));
  const reports: SocketReport[] = [];
  const deadline = Date.now() + spec.durationMs;
  const start = Date.now();
  let started = 0;
  const running = new Set<Promise<void>>();
  while (started < spec.connections && Date.now() < deadline) {
    if (spec.ratePerSecond > 0) {
      const due = start + (started * 1000) / spec.ratePerSecond;
      if (due > Date.now()) await sleep(due - Date.now());
    }
    while (running.size >= spec.concurrency) await Promise.race(running);
    const p = oneTcpConnection(spec, reports).then(() => {
      running.delete(p);
    });
    running.add(p);
    started++;
  }
  await Promise.race([Promise.all(running), sleep(Math.max(0, deadline - Date.now()) + 2000)]);
  return reports;
}

interface UdpState {
  socket: UdpSocket;
  report: SocketReport;
}

async function openUdp(
  family: 4 | 6,
  bindAddress: string,
  port: number,
  connectTo: { address: string; port: number } | undefined,
  bufferBytes: number,
): Promise<UdpState> {
  const socket = createSocket({
    type: family === 6 ? 'udp6' : 'udp4',
    recvBufferSize: bufferBytes,
    sendBufferSize: bufferBytes,
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: bindAddress, port, exclusive: true }, () => resolve());
  });
  if (connectTo !== undefined) {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(connectTo.port, connectTo.address, () => resolve());
    });
  }
  const local = socket.address();
  return {
    socket,
    report: {
      protocol: 'udp',
      localAddress: local.address,
      localPort: local.port,
      remoteAddress: connectTo?.address ?? null,
      remotePort: connectTo?.port ?? 0,
      sentPayloadBytes: 0,
      receivedPayloadBytes: 0,
      sentDatagrams: 0,
      receivedDatagrams: 0,
    },
  };
}

const family = (address: string): 4 | 6 => (address.includes(':') ? 6 : 4);

async function udpServer(
  spec: Extract<WorkerSpec, { role: 'udp-server' }>,
): Promise<SocketReport[]> {
  checkAddress(spec.address);
  if (spec.connectTo !== undefined) checkAddress(spec.connectTo.address);
  const states: UdpState[] = [];
  const reply = Buffer.alloc(spec.replyBytes, 0x62);
  for (let i = 0; i < spec.ports; i++) {
    const state = await openUdp(family(spec.address), spec.address, 0, spec.connectTo, 4 << 20);
    state.socket.on('message', (msg, rinfo) => {
      state.report.receivedPayloadBytes += msg.length;
      state.report.receivedDatagrams++;
      if (spec.replyBytes > 0 && isTestAddress(rinfo.address)) {
        state.report.sentDatagrams++;
        state.report.sentPayloadBytes += reply.length;
        // A connected socket may only send to its peer, and without naming it (dgram throws).
        if (spec.connectTo === undefined) state.socket.send(reply, rinfo.port, rinfo.address);
        else state.socket.send(reply);
      }
    });
    states.push(state);
  }
  emit({ type: 'ready', pid: process.pid, ports: states.map((s) => s.report.localPort) });
  const deadline = Date.now() + spec.durationMs;
  let total = 0;
  while (Date.now() < deadline) {
    total = states.reduce((sum, s) => sum + s.report.receivedDatagrams, 0);
    if (spec.datagrams > 0 && total >= spec.datagrams) break;
    await sleep(20);
  }
  await sleep(100);
  for (const s of states) s.socket.close();
  return states.map((s) => s.report);
}

async function udpClient(
  spec: Extract<WorkerSpec, { role: 'udp-client' }>,
): Promise<SocketReport[]> {
  checkAddress(spec.address);
  const bindAddress = spec.bindAddress ?? (family(spec.address) === 6 ? '::' : '0.0.0.0');
  const states: UdpState[] = [];
  const socketCount = Math.max(1, spec.sockets);
  for (let i = 0; i < socketCount; i++) {
    const connectTo =
      spec.connected && spec.ports.length === 1
        ? { address: spec.address, port: spec.ports[0] ?? 0 }
        : undefined;
    const bindPort = socketCount === 1 ? (spec.bindPort ?? 0) : 0;
    const state = await openUdp(family(spec.address), bindAddress, bindPort, connectTo, 1 << 20);
    state.socket.on('message', (msg) => {
      state.report.receivedPayloadBytes += msg.length;
      state.report.receivedDatagrams++;
    });
    states.push(state);
  }
  if ((spec.holdMs ?? 0) > 0) await sleep(spec.holdMs ?? 0);
  const payload = Buffer.alloc(spec.payloadBytes, 0x61);
  const deadline = Date.now() + spec.durationMs;
  const start = Date.now();
  const burst = spec.burst ?? 64;
  let sent = 0;
  let index = 0;
  outer: while (sent < spec.datagrams && Date.now() < deadline) {
    if (spec.ratePerSecond > 0) {
      const due = start + (sent * 1000) / spec.ratePerSecond;
      if (due > Date.now() + 1) await sleep(due - Date.now());
    }
    let last: Promise<void> = Promise.resolve();
    for (let b = 0; b < burst; b++) {
      if (sent >= spec.datagrams) break;
      const state = states[index % states.length];
      const port = spec.ports[Math.floor(index / states.length) % spec.ports.length] ?? 0;
      index++;
      if (state === undefined) break outer;
      const report = state.report;
      last = new Promise<void>((resolve) => {
        const done = (error: Error | null): void => {
          if (error === null) {
            report.sentDatagrams++;
            report.sentPayloadBytes += payload.length;
          }
          resolve();
        };
        if (report.remoteAddress !== null) state.socket.send(payload, done);
        else state.socket.send(payload, port, spec.address, done);
      });
      sent++;
    }
    await last;
  }
  await sleep(spec.replyWaitMs ?? 200);
  for (const s of states) s.socket.close();
  return states.map((s) => s.report);
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as WorkerSpec;
  const life = setTimeout(() => process.exit(3), MAX_WORKER_LIFE_MS);
  life.unref();
  const started = Date.now();
  let sockets: SocketReport[];
  switch (spec.role) {
    case 'tcp-server':
      sockets = await tcpServer(spec);
      break;
    case 'tcp-client':
      sockets = await tcpClient(spec);
      break;
    case 'udp-server':
      sockets = await udpServer(spec);
      break;
    case 'udp-client':
      sockets = await udpClient(spec);
      break;
    default:
      throw new Error(`unknown worker role ${JSON.stringify((spec as { role?: unknown }).role)}`);
  }
  const report: WorkerReport = {
    type: 'report',
    pid: process.pid,
    role: spec.role,
    elapsedMs: Date.now() - started,
    sockets,
  };
  emit(report);
  // Stay alive (so monitors can still read /proc/<pid>) until the parent closes stdin.
  const lingerMs = spec.lingerMs ?? 0;
  if (lingerMs > 0) {
    await Promise.race([
      new Promise<void>((resolve) => {
        process.stdin.on('end', resolve);
        process.stdin.on('error', resolve);
        process.stdin.resume();
      }),
      sleep(lingerMs),
    ]);
  }
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`traffic worker failed: ${String(error)}\n`);
  process.exit(2);
});
