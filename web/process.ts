// The "One process" view: details, connections, remote hosts and the process's own history.

import uPlot from 'uplot';
import { ApiError, getJson } from './api.js';
import { el, formatBytes, formatDateTime, formatRate, timeZoneName, setText } from './dom.js';
import { toRates } from './chart.js';
import type { HistoryAnswer } from './history.js';

interface Counters {
  sentBytes: number;
  receivedBytes: number;
}
interface Entry {
  key: string;
  total: Counters;
  rate: { sentBytesPerSecond: number; receivedBytesPerSecond: number };
}
interface Container {
  id: string;
  name: string;
  image: string;
  pod: { namespace: string; name: string; container: string } | null;
}
interface ProcessAnswer {
  time: number;
  process: Entry & {
    exited: boolean;
    process: {
      key: string;
      pid: number;
      ppid: number;
      comm: string;
      exe: string;
      cmdline: string[];
      uid: number;
      user: string;
      startTime: number;
      containerId: string | null;
      container: Container | null;
    };
  };
  connections: (Entry & {
    protocol: string;
    localAddress: string;
    localPort: number;
    remoteAddress: string;
    remotePort: number;
  })[];
}

const SHOWN_CONNECTIONS = 50;
let chart: uPlot | undefined;

function facts(rows: [string, string][]): HTMLElement {
  const dl = el('dl', { class: 'facts' });
  for (const [k, v] of rows)
    dl.append(el('dt', { text: k }), el('dd', {}, el('code', { text: v })));
  return dl;
}

function rateCells(e: Entry): HTMLElement[] {
  return [
    el('td', { class: 'num sent', text: formatRate(e.rate.sentBytesPerSecond) }),
    el('td', { class: 'num received', text: formatRate(e.rate.receivedBytesPerSecond) }),
    el('td', {
      class: 'num hide-narrow',
      text: formatBytes(e.total.sentBytes + e.total.receivedBytes),
    }),
  ];
}

/** Build the view of `pid`; returns its refresh function. */
export function showProcess(main: HTMLElement, pid: number): () => Promise<void> {
  const title = el('h2', { id: 'process-title', text: `Process ${pid}` });
  const details = el('div', { id: 'process-details' });
  const conns = el('table', { id: 'process-connections' });
  const remotes = el('table', { id: 'process-remotes' });
  const box = el('div', { class: 'chart', id: 'process-chart' });
  const note = el('p', { class: 'muted' });
  main.replaceChildren(
    el('p', {}, el('a', { href: '#now', text: '← Now' })),
    title,
    details,
    el('h3', { text: 'Last hour' }),
    box,
    el(
      'div',
      { class: 'two' },
      el('div', {}, el('h3', { text: 'Connections' }), el('div', { class: 'table-wrap' }, conns)),
      el(
        'div',
        {},
        el('h3', { text: 'Remote hosts' }),
        el('div', { class: 'table-wrap' }, remotes),
      ),
    ),
    note,
  );
  let historyKey: string | undefined;
  /** The last hour of the process `key`, or (exited, no longer live) of the newest process with this pid in the last day. */
  const loadHistory = async (by: { key: string } | { pid: string }): Promise<HistoryAnswer> => {
    const seconds = 'key' in by ? '3600' : '86400';
    const a = await getJson<HistoryAnswer>(
      `/api/v1/history?${new URLSearchParams({ seconds, groupBy: 'process', limit: '1', ...by }).toString()}`,
    );
    const s = a.series[0];
    const none = a.times.map(() => null);
    const sent = toRates(s?.sentBytes ?? none, a.recordedSeconds, a.stepSeconds);
    const received = toRates(s?.receivedBytes ?? none, a.recordedSeconds, a.stepSeconds);
    chart?.destroy();
    box.replaceChildren();
    const width = Math.max(280, box.clientWidth - 16);
    chart = new uPlot(
      {
        width,
        height: 200,
        axes: [{}, { values: (_u, ticks) => ticks.map((v) => formatRate(v)), size: 80 }],
        scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.05] } },
        series: [
          { label: 'time', value: (_u, v) => (v === null ? '–' : formatDateTime(v * 1000)) },
          {
            label: 'sent',
            stroke: '#d1242f',
            width: 2,
            value: (_u, v) => (v === null ? '–' : formatRate(v)),
          },
          {
            label: 'received',
            stroke: '#1a7f37',
            width: 2,
            value: (_u, v) => (v === null ? '–' : formatRate(v)),
          },
        ],
      },
      [a.times.map((t) => t / 1000), sent, received],
      box,
    );
    return a;
  };
  return async () => {
    let a: ProcessAnswer;
    try {
      a = await getJson<ProcessAnswer>(`/api/v1/processes/${pid}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        // Not live any more: what the history database remembers of this pid.
        const h = historyKey === undefined ? await loadHistory({ pid: String(pid) }) : undefined;
        historyKey ??= '(history)';
        const p = h?.series[0]?.process;
        const rows: [string, string][] = [['Live', error.message]];
        if (p !== undefined) {
          setText(title, `${p.comm} (pid ${p.pid}) – not live`);
          rows.push(
            ['Command line', p.cmdline.join(' ')],
            ['User', `${p.user} (uid ${p.uid})`],
            ['Container', p.containerId ?? ''],
            ['Seen', `${formatDateTime(p.firstSeen)} – ${formatDateTime(p.lastSeen)}`],
          );
        }
        if (h !== undefined) details.replaceChildren(facts(rows));
        return;
      }
      throw error;
    }
    const p = a.process.process;
    setText(title, `${p.comm} (pid ${p.pid})${a.process.exited ? ' – exited' : ''}`);
    const rows: [string, string][] = [
      ['Command line', p.cmdline.join(' ')],
      ['Executable', p.exe],
      ['User', `${p.user} (uid ${p.uid})`],
      ['Parent pid', String(p.ppid)],
      [
        'Sent / received',
        `${formatRate(a.process.rate.sentBytesPerSecond)} / ${formatRate(a.process.rate.receivedBytesPerSecond)} now · ${formatBytes(a.process.total.sentBytes)} / ${formatBytes(a.process.total.receivedBytes)} since seen`,
      ],
    ];
    const c = p.container;
    if (c !== null) {
      rows.push(['Container', `${c.name || c.id.slice(0, 12)} (${c.image})`]);
      if (c.pod !== null)
        rows.push(['Pod', `${c.pod.namespace}/${c.pod.name} container ${c.pod.container}`]);
    } else if (p.containerId !== null) {
      rows.push(['Container', p.containerId]);
    }
    details.replaceChildren(facts(rows));
    conns.replaceChildren(
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ...['Connection', 'Sent/s', 'Received/s', 'Total'].map((h, i) =>
            el('th', { text: h, class: i === 0 ? '' : i === 3 ? 'num hide-narrow' : 'num' }),
          ),
        ),
      ),
      el(
        'tbody',
        {},
        ...a.connections.slice(0, SHOWN_CONNECTIONS).map((k) =>
          el(
            'tr',
            {},
            el('td', {
              class: 'name',
              text: `${k.protocol} ${k.localAddress}:${k.localPort} → ${k.remoteAddress}:${k.remotePort}`,
            }),
            ...rateCells(k),
          ),
        ),
      ),
    );
    const byRemote = new Map<string, Entry & { count: number }>();
    for (const k of a.connections) {
      const r = byRemote.get(k.remoteAddress) ?? {
        key: k.remoteAddress,
        count: 0,
        total: { sentBytes: 0, receivedBytes: 0 },
        rate: { sentBytesPerSecond: 0, receivedBytesPerSecond: 0 },
      };
      r.count++;
      r.total.sentBytes += k.total.sentBytes;
      r.total.receivedBytes += k.total.receivedBytes;
      r.rate.sentBytesPerSecond += k.rate.sentBytesPerSecond;
      r.rate.receivedBytesPerSecond += k.rate.receivedBytesPerSecond;
      byRemote.set(k.remoteAddress, r);
    }
    const remoteRows = [...byRemote.values()].sort(
      (x, y) =>
        y.total.sentBytes + y.total.receivedBytes - (x.total.sentBytes + x.total.receivedBytes),
    );
    remotes.replaceChildren(
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ...['Remote host', 'Sent/s', 'Received/s', 'Total'].map((h, i) =>
            el('th', { text: h, class: i === 0 ? '' : i === 3 ? 'num hide-narrow' : 'num' }),
          ),
        ),
      ),
      el(
        'tbody',
        {},
        ...remoteRows
          .slice(0, SHOWN_CONNECTIONS)
          .map((r) =>
            el(
              'tr',
              {},
              el('td', { class: 'name', text: `${r.key} (${r.count})` }),
              ...rateCells(r),
            ),
          ),
      ),
    );
    setText(
      note,
      `${a.connections.length} connections · updated ${formatDateTime(a.time)} · times in ${timeZoneName()}`,
    );
    if (historyKey !== p.key) {
      historyKey = p.key;
      await loadHistory({ key: p.key });
    }
  };
}
