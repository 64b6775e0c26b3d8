// Small DOM and formatting helpers of the page. Every text is set with textContent (nothing the
// agent sends is ever parsed as HTML) after the project's one sanitizer, src/text's
// toDisplayText: controls, escape sequences, bidi overrides and invisible characters in a name
// show visibly escaped here as in the terminal.

import { toDisplayText } from '../src/text/display-text.js';

/** Text as the page shows it: {@link toDisplayText} of untrusted (or any) text. */
export function shown(text: string): string {
  return toDisplayText(text);
}

/** Set a node's text to {@link shown} text. */
export function setText(node: Node, text: string): void {
  node.textContent = shown(text);
}

/** Children accepted by {@link el}: strings become text nodes. */
export type Child = Node | string | null | undefined | false;

/** Create an element with attributes (not `style`, not event handlers) and children. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'text') setText(node, value);
    else node.setAttribute(name, name === 'title' ? shown(value) : value);
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(typeof c === 'string' ? document.createTextNode(shown(c)) : c);
  }
  return node;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 -> '1.5 KiB' (binary units, three significant digits). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '–';
  let v = Math.abs(bytes);
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  const text =
    i === 0
      ? String(Math.round(v))
      : v >= 100
        ? v.toFixed(0)
        : v >= 10
          ? v.toFixed(1)
          : v.toFixed(2);
  return `${bytes < 0 ? '-' : ''}${text} ${UNITS[i]}`;
}

/** Bytes per second as '12.3 KiB/s'. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** A share 0..1 as '12.3 %'. */
export function formatShare(share: number): string {
  return `${(share * 100).toFixed(share < 0.1 ? 2 : 1)} %`;
}

const TIME = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  timeZoneName: 'short',
});
const DATE_TIME = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  timeZoneName: 'short',
});

/** Local time of day with the zone, e.g. '14:03:07 CET'. */
export function formatTime(ms: number): string {
  return TIME.format(new Date(ms));
}

/** Local date and time with the zone. */
export function formatDateTime(ms: number): string {
  return DATE_TIME.format(new Date(ms));
}

/** The browser's time zone name, e.g. 'Europe/Berlin'. */
export function timeZoneName(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** A sparkline of per-second sent and received bytes on a small canvas (no inline style). */
export function sparkline(sent: readonly number[], received: readonly number[]): HTMLCanvasElement {
  const canvas = el('canvas', { class: 'spark', width: '160', height: '40' });
  const ctx = canvas.getContext('2d');
  const n = Math.max(sent.length, received.length);
  if (ctx === null || n < 2) return canvas;
  let max = 1;
  for (let i = 0; i < n; i++) max = Math.max(max, (sent[i] ?? 0) + (received[i] ?? 0));
  const line = (values: readonly number[], color: string): void => {
    ctx.beginPath();
    for (let i = 0; i < n; i++) {
      const x = (i / (n - 1)) * 158 + 1;
      const y = 39 - ((values[i] ?? 0) / max) * 37;
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    }
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.stroke();
  };
  line(received, '#1a7f37');
  line(sent, '#d1242f');
  return canvas;
}

/** Series colours of the charts (colour-blind friendly, Tableau 10). */
export const COLORS = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];
