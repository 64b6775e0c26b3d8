// The "Health" view: losses (kernel, queue), unknown traffic, scan cost, devices and the
// history database, from /api/v1/stats.

import { getJson } from './api.js';
import { el, formatBytes, formatShare, formatTime, setText } from './dom.js';

interface Totals {
  packets: number;
  bytes: number;
}
interface Device {
  device: string;
  kernelReceivedPackets: number;
  kernelDroppedPackets: number;
  interfaceDroppedPackets: number;
  capturedPackets: number;
  queueDroppedPackets: number;
  malformedPackets: number;
}
interface StatsAnswer {
  time: number;
  stats: {
    seen: Totals;
    attributed: Totals;
    unknown: Totals;
    pending: Totals;
    queueDropped: Totals;
    kernelDroppedPackets: number;
    malformedPackets: number;
    retry: { droppedPackets: number; pendingFlows: number };
    scans: {
      count: number;
      lastDurationMs: number;
      medianDurationMs: number;
      maxDurationMs: number;
      sockets: number;
      processes: number;
    };
    flows: { tracked: number; overflowPackets: number };
    devices: Device[];
  };
  history: {
    path: string;
    up: boolean;
    intervalSeconds: number;
    droppedRows: number;
    writeErrors: number;
    lastError: string | null;
    fileBytes: number;
  } | null;
}

function card(label: string, value: string, isBad = false, id?: string): HTMLElement {
  const attrs: Record<string, string> = { class: isBad ? 'card bad' : 'card' };
  if (id !== undefined) attrs.id = id;
  return el(
    'div',
    attrs,
    el('div', { class: 'label', text: label }),
    el('div', { class: 'value', text: value }),
  );
}

/** Build the view; returns its refresh function. */
export function showHealth(main: HTMLElement): () => Promise<void> {
  const cards = el('div', { class: 'cards', id: 'health-cards' });
  const devices = el('table', { id: 'health-devices' });
  const db = el('div', {});
  const note = el('p', { class: 'muted' });
  main.replaceChildren(
    el('h2', { text: 'Health' }),
    cards,
    el('h3', { text: 'Capture devices' }),
    el('div', { class: 'table-wrap' }, devices),
    el('h3', { text: 'History database' }),
    db,
    note,
  );
  return async () => {
    const a = await getJson<StatsAnswer>('/api/v1/stats');
    const s = a.stats;
    const unknownShare = s.seen.bytes > 0 ? s.unknown.bytes / s.seen.bytes : 0;
    cards.replaceChildren(
      card(
        'Kernel drops (packets)',
        String(s.kernelDroppedPackets),
        s.kernelDroppedPackets > 0,
        'health-kernel-drops',
      ),
      card(
        'Queue drops (packets)',
        String(s.queueDropped.packets),
        s.queueDropped.packets > 0,
        'health-queue-drops',
      ),
      card(
        'Unknown traffic',
        `${formatShare(unknownShare)} · ${formatBytes(s.unknown.bytes)}`,
        unknownShare > 0.05,
        'health-unknown',
      ),
      card('Retry drops (packets)', String(s.retry.droppedPackets), s.retry.droppedPackets > 0),
      card('Malformed packets', String(s.malformedPackets), s.malformedPackets > 0),
      card(
        'Scan cost (median / max)',
        `${s.scans.medianDurationMs.toFixed(1)} / ${s.scans.maxDurationMs.toFixed(1)} ms`,
        s.scans.medianDurationMs > 100,
      ),
      card(
        'Scans',
        `${s.scans.count} · ${s.scans.processes} processes · ${s.scans.sockets} sockets`,
      ),
      card('Flows tracked', String(s.flows.tracked), s.flows.overflowPackets > 0),
      card('Packets seen', `${s.seen.packets} · ${formatBytes(s.seen.bytes)}`),
    );
    devices.replaceChildren(
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ...[
            'Device',
            'Captured',
            'Kernel received',
            'Kernel dropped',
            'Interface dropped',
            'Queue dropped',
            'Malformed',
          ].map((h, i) => el('th', { text: h, class: i === 0 ? '' : 'num' })),
        ),
      ),
      el(
        'tbody',
        {},
        ...s.devices.map((d) =>
          el(
            'tr',
            {},
            el('td', { text: d.device }),
            ...[
              d.capturedPackets,
              d.kernelReceivedPackets,
              d.kernelDroppedPackets,
              d.interfaceDroppedPackets,
              d.queueDroppedPackets,
              d.malformedPackets,
            ].map((v) => el('td', { class: 'num', text: String(v) })),
          ),
        ),
      ),
    );
    const h = a.history;
    db.replaceChildren(
      h === null
        ? el('p', { class: 'muted', text: 'no history database (started with --history-db none)' })
        : el(
            'div',
            { class: 'cards' },
            card('State', h.up ? 'writing' : `failing: ${h.lastError ?? ''}`, !h.up),
            card('File', formatBytes(h.fileBytes)),
            card('Interval', `${h.intervalSeconds} s`),
            card(
              'Dropped rows / write errors',
              `${h.droppedRows} / ${h.writeErrors}`,
              h.droppedRows + h.writeErrors > 0,
            ),
          ),
    );
    setText(note, `updated ${formatTime(a.time)}${h === null ? '' : ` · database ${h.path}`}`);
  };
}
