// The "Now" view: top processes (or containers, remotes, connections) from /api/v1/top, once a
// second, sorted and filtered on the agent so the answer stays bounded on a busy host.

import { getJson } from './api.js';
import { el, formatBytes, formatRate, formatShare, formatTime, sparkline, setText } from './dom.js';

type Group = 'process' | 'container' | 'remote' | 'connection';
type Sort = 'total' | 'sent' | 'received' | 'name';

interface Spark {
  sentBytes: number[];
  receivedBytes: number[];
}
interface TopRow {
  key: string;
  kind: Group;
  name: string;
  pid?: number;
  user?: string;
  container?: string;
  comm?: string;
  exited?: boolean;
  connectionCount?: number;
  processCount?: number;
  sentBytesPerSecond: number;
  receivedBytesPerSecond: number;
  sentBytes: number;
  receivedBytes: number;
  spark: Spark;
}
interface Sums {
  count?: number;
  sentBytesPerSecond: number;
  receivedBytesPerSecond: number;
  sentBytes: number;
  receivedBytes: number;
}
interface TopAnswer {
  time: number;
  matched: number;
  windowSeconds: number;
  entries: TopRow[];
  other: Sums & { count: number };
  totals: Sums & { spark: Spark };
  unknown: Sums & { share: number };
  devices: string[];
}

const GROUP_LABELS: Record<Group, string> = {
  process: 'Processes',
  container: 'Containers',
  remote: 'Remote hosts',
  connection: 'Connections',
};
const SINGULAR: Record<Group, string> = {
  process: 'Process',
  container: 'Container',
  remote: 'Remote host',
  connection: 'Connection',
};
const LIMIT = 25;

/** State kept across refreshes and visits. */
const state: { group: Group; sort: Sort; filter: string } = {
  group: 'process',
  sort: 'total',
  filter: '',
};

/** Open the Now view on `group` filtered by `filter` (a click on History's band). */
export function selectInNow(group: Group, filter: string): void {
  state.group = group;
  state.filter = filter;
  location.hash = '#now';
}

/** Build the view in `main`; returns the refresh function the app calls every second. */
export function showNow(main: HTMLElement): () => Promise<void> {
  const groupSelect = el('select', { 'aria-label': 'group by', id: 'now-group' });
  for (const [value, label] of Object.entries(GROUP_LABELS)) {
    groupSelect.append(el('option', { value, text: label }));
  }
  groupSelect.value = state.group;
  const filter = el('input', {
    type: 'search',
    id: 'now-filter',
    placeholder: 'filter (name, pid, user, command, container)',
    'aria-label': 'filter',
    maxlength: '256',
  });
  filter.value = state.filter;
  const cards = el('div', { class: 'cards' });
  const table = el('table', { id: 'now-table' });
  const note = el('p', { class: 'muted' });
  main.replaceChildren(
    el('h2', { text: 'Now' }),
    el('div', { class: 'controls' }, groupSelect, filter),
    cards,
    el('div', { class: 'table-wrap' }, table),
    note,
  );
  let pending: Promise<void> | undefined;
  const refresh = (): Promise<void> => {
    pending ??= load(cards, table, note).finally(() => (pending = undefined));
    return pending;
  };
  groupSelect.addEventListener('change', () => {
    state.group = groupSelect.value as Group;
    void refresh();
  });
  filter.addEventListener('input', () => {
    state.filter = filter.value;
    void refresh();
  });
  table.addEventListener('click', (event) => {
    const th = (event.target as Element).closest('th[data-sort]');
    if (th === null) return;
    state.sort = th.getAttribute('data-sort') as Sort;
    void refresh();
  });
  return refresh;
}

function card(label: string, value: string, isBad = false): HTMLElement {
  return el(
    'div',
    { class: isBad ? 'card bad' : 'card' },
    el('div', { class: 'label', text: label }),
    el('div', { class: 'value', text: value }),
  );
}

async function load(cards: HTMLElement, table: HTMLTableElement, note: HTMLElement): Promise<void> {
  const params = new URLSearchParams({
    groupBy: state.group,
    sort: state.sort,
    limit: String(LIMIT),
  });
  if (state.filter.trim() !== '') params.set('filter', state.filter.trim().slice(0, 256));
  const a = await getJson<TopAnswer>(`/api/v1/top?${params.toString()}`);
  cards.replaceChildren(
    card('Sent', formatRate(a.totals.sentBytesPerSecond)),
    card('Received', formatRate(a.totals.receivedBytesPerSecond)),
    card('Sent since start', formatBytes(a.totals.sentBytes)),
    card('Received since start', formatBytes(a.totals.receivedBytes)),
    card('Unknown share', formatShare(a.unknown.share), a.unknown.share > 0.05),
    el(
      'div',
      { class: 'card' },
      el('div', { class: 'label', text: `All traffic, last ${a.totals.spark.sentBytes.length} s` }),
      sparkline(a.totals.spark.sentBytes, a.totals.spark.receivedBytes),
    ),
  );
  renderTable(table, a);
  setText(
    note,
    `Rates over the last ${a.windowSeconds} s · ${a.matched} ${GROUP_LABELS[state.group].toLowerCase()} match · devices ${a.devices.join(', ')} · updated ${formatTime(a.time)}`,
  );
}

function header(sparkSeconds: number): HTMLTableSectionElement {
  const th = (label: string, sort?: Sort, cls = ''): HTMLElement => {
    const attrs: Record<string, string> = { text: label, class: cls };
    if (sort !== undefined) {
      attrs['data-sort'] = sort;
      attrs.class = `${cls} sortable${state.sort === sort ? ' sorted' : ''}`;
      attrs.title = `sort by ${label.toLowerCase()}`;
      if (state.sort === sort) attrs.text = `${label} ▾`;
    }
    return el('th', attrs);
  };
  const cols: HTMLElement[] = [th(SINGULAR[state.group], 'name')];
  if (state.group === 'process')
    cols.push(
      th('PID', undefined, 'num'),
      th('User', undefined, 'hide-narrow'),
      th('Container', undefined, 'hide-narrow'),
    );
  if (state.group === 'connection') cols.push(th('Process', undefined, 'hide-narrow'));
  if (state.group === 'container' || state.group === 'remote')
    cols.push(th('Processes', undefined, 'num hide-narrow'));
  cols.push(
    th('Sent/s', 'sent', 'num'),
    th('Received/s', 'received', 'num'),
    th('Total', 'total', 'num hide-narrow'),
    th(`Last ${sparkSeconds} s`, undefined, 'hide-narrow'),
  );
  return el('thead', {}, el('tr', {}, ...cols));
}

function renderTable(table: HTMLTableElement, a: TopAnswer): void {
  const body = el('tbody');
  for (const r of a.entries) {
    const nameCell = el('td', { class: 'name', title: r.name });
    if (r.kind === 'process' && r.pid !== undefined) {
      nameCell.append(
        el('a', { href: `#process/${r.pid}`, text: r.name, 'data-pid': String(r.pid) }),
      );
      if (r.exited === true) nameCell.append(el('span', { class: 'muted', text: ' (exited)' }));
    } else {
      setText(nameCell, r.name);
    }
    const tr = el('tr', { 'data-key': r.key }, nameCell);
    if (r.kind === 'process') {
      tr.append(
        el('td', { class: 'num', text: String(r.pid ?? '') }),
        el('td', { class: 'hide-narrow', text: r.user ?? '' }),
        el('td', { class: 'hide-narrow', text: r.container ?? '' }),
      );
    } else if (r.kind === 'connection') {
      const cell = el('td', { class: 'hide-narrow' });
      if (r.pid !== undefined)
        cell.append(el('a', { href: `#process/${r.pid}`, text: `${r.comm ?? ''} (${r.pid})` }));
      tr.append(cell);
    } else {
      tr.append(el('td', { class: 'num hide-narrow', text: String(r.processCount ?? '') }));
    }
    tr.append(
      el('td', { class: 'num sent', text: formatRate(r.sentBytesPerSecond) }),
      el('td', { class: 'num received', text: formatRate(r.receivedBytesPerSecond) }),
      el('td', { class: 'num hide-narrow', text: formatBytes(r.sentBytes + r.receivedBytes) }),
      el('td', { class: 'hide-narrow' }, sparkline(r.spark.sentBytes, r.spark.receivedBytes)),
    );
    body.append(tr);
  }
  const extraCols = state.group === 'process' ? 3 : 1;
  const summary = (cls: string, label: string, s: Sums): HTMLTableRowElement =>
    el(
      'tr',
      { class: cls },
      el('td', { class: 'name', text: label }),
      el('td', { colspan: String(extraCols) }),
      el('td', { class: 'num', text: formatRate(s.sentBytesPerSecond) }),
      el('td', { class: 'num', text: formatRate(s.receivedBytesPerSecond) }),
      el('td', { class: 'num hide-narrow', text: formatBytes(s.sentBytes + s.receivedBytes) }),
      el('td', { class: 'hide-narrow' }),
    );
  if (a.other.count > 0) body.append(summary('other', `other (${a.other.count})`, a.other));
  if (state.group === 'process' && state.filter.trim() === '') {
    body.append(summary('unknown', '(unknown)', a.unknown));
  }
  if (a.entries.length === 0) {
    body.append(
      el(
        'tr',
        {},
        el('td', {
          colspan: '8',
          class: 'muted',
          text: state.filter === '' ? 'no traffic yet' : 'nothing matches the filter',
        }),
      ),
    );
  }
  table.replaceChildren(header(a.totals.spark.sentBytes.length), body);
}
