// The terminal driver of the UI: alternate screen, raw keys through node:readline, redraws
// of changed lines only, and a restored terminal on every way out (q, Ctrl-C, signals,
// errors, uncaught exceptions). Drawing itself is render() in render.ts.

import { emitKeypressEvents, type Interface } from 'node:readline';
import type { Monitor, Snapshot } from '../monitor/types.js';
import type { ProcessFilter } from '../present/process-filter.js';
import { display, type DisplayText } from '../text/display-text.js';
import { render, type TerminalSize } from './render.js';
import { createTuiState, handleKey, rankedViewOf, type KeyPress, type TuiState } from './state.js';

/** Where the UI draws: a TTY-like output stream. */
export interface TuiOutput {
  /** Takes only display text: names reach the terminal only through src/text. */
  write(text: DisplayText): unknown;
  readonly columns?: number | undefined;
  readonly rows?: number | undefined;
  on(event: 'resize', listener: () => void): unknown;
  off(event: 'resize', listener: () => void): unknown;
}

/** Where keys come from: a TTY-like input stream (keys are ignored when it is not a TTY). */
export interface TuiInput extends NodeJS.EventEmitter {
  readonly isTTY?: boolean | undefined;
  setRawMode?(mode: boolean): unknown;
  resume(): unknown;
  pause(): unknown;
}

/** Process-wide events the driver listens to while it owns the terminal (default: `process`). */
export interface ProcessHooks {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
}

export interface TuiOptions {
  version: string;
  color: boolean;
  /** Window of the rates, seconds. */
  windowSeconds: number;
  processFilter: ProcessFilter;
  hooks: ProcessHooks;
}

/** How the UI ended: exit code, and the error that ended it, if any. */
export interface TuiResult {
  code: number;
  error?: Error;
}

const ENTER_SCREEN = display`\x1b[?1049h\x1b[?25l\x1b[2J`;
const LEAVE_SCREEN = display`\x1b[0m\x1b[?25h\x1b[?1049l`;
/** How long a lone Esc waits for the rest of an escape sequence, ms. */
const ESCAPE_CODE_TIMEOUT_MS = 50;
/** Most rows fetched for the connections, remote hosts and containers views. */
const RANK_LIMIT = 2000;

const END_TEXT: Record<string, string> = {
  timeout: 'capture ended: the --timeout was reached (numbers are final)',
  'end-of-file': 'replay finished: end of the pcap file (numbers are final)',
  stopped: 'capture stopped',
};

/**
 * Runs the terminal UI on `monitor` (already started) until the user quits, a signal
 * arrives, or the monitor fails. The terminal is restored before the promise settles.
 */
export function runTui(
  monitor: Monitor,
  output: TuiOutput,
  input: TuiInput | undefined,
  options: TuiOptions,
): Promise<TuiResult> {
  let state: TuiState = createTuiState({
    version: options.version,
    color: options.color,
    processFilter: options.processFilter,
  });
  let previousLines: readonly DisplayText[] = [];
  let previousSize = '';
  let isActive = true;
  let resolveResult!: (result: TuiResult) => void;
  const result = new Promise<TuiResult>((resolve) => (resolveResult = resolve));

  const size = (): TerminalSize => ({ columns: output.columns ?? 80, rows: output.rows ?? 24 });

  const draw = (): void => {
    if (!isActive) return;
    const s = size();
    // Only display text reaches the terminal: every name in it went through toDisplayText.
    const lines: readonly DisplayText[] = render(state, s);
    const sizeKey = `${s.columns}x${s.rows}`;
    let out = display``;
    if (sizeKey !== previousSize) {
      // A resize can leave stale cells anywhere: clear and draw every line.
      out = display`\x1b[2J`;
      previousLines = [];
      previousSize = sizeKey;
    }
    for (let i = 0; i < lines.length; i++) {
      if (lines[i] !== previousLines[i])
        out = display`${out}\x1b[${i + 1};1H${lines[i]!}\x1b[0m\x1b[K`;
    }
    previousLines = lines;
    if (out !== '') output.write(out);
  };

  const fetchRanks = (): void => {
    const view = rankedViewOf(state);
    const windowSeconds = options.windowSeconds;
    const data = state.data;
    if (view === 'connections') {
      const connections = monitor
        .rank({ groupBy: 'connection', windowSeconds, limit: RANK_LIMIT })
        .filter((e) => e.kind === 'connection');
      state = { ...state, data: { ...data, connections } };
    } else if (view === 'remotes') {
      const remotes = monitor
        .rank({ groupBy: 'remote', windowSeconds, limit: RANK_LIMIT })
        .filter((e) => e.kind === 'remote');
      state = { ...state, data: { ...data, remotes } };
    } else if (view === 'containers') {
      const containers = monitor
        .rank({ groupBy: 'container', windowSeconds, limit: RANK_LIMIT })
        .filter((e) => e.kind === 'container');
      state = { ...state, data: { ...data, containers } };
    }
  };

  const refresh = (snapshot?: Snapshot): void => {
    const s =
      snapshot !== undefined && snapshot.windowSeconds === options.windowSeconds
        ? snapshot
        : monitor.snapshot(options.windowSeconds);
    state = { ...state, data: { ...state.data, snapshot: s } };
    fetchRanks();
  };

  const finish = (res: TuiResult): void => {
    if (!isActive) return;
    isActive = false;
    monitor.off('tick', onTick);
    monitor.off('warning', onWarning);
    output.off('resize', onResize);
    for (const [event, fn] of hookListeners) options.hooks.off(event, fn);
    if (input) {
      input.off('keypress', onKeypress);
      if (input.isTTY) input.setRawMode?.(false);
      input.pause();
    }
    output.write(LEAVE_SCREEN);
    resolveResult(res);
  };

  const guard =
    <A extends unknown[]>(fn: (...args: A) => void) =>
    (...args: A): void => {
      try {
        fn(...args);
      } catch (error) {
        finish({ code: 1, error: error instanceof Error ? error : new Error(String(error)) });
      }
    };

  const onTick = guard((snapshot: Snapshot): void => {
    if (state.paused) return;
    refresh(snapshot);
    draw();
  });
  const onWarning = guard((message: string): void => {
    state = { ...state, data: { ...state.data, warning: `warning: ${message}` } };
    draw();
  });
  const onResize = guard(() => draw());
  const onKeypress = guard((_str: string | undefined, key: KeyPress | undefined): void => {
    const press: KeyPress = key ?? { sequence: _str ?? '' };
    const pageRows = Math.max(1, size().rows - 6);
    const next = handleKey(state, press, pageRows);
    state = next.state;
    if (next.action === 'quit') {
      finish({ code: 0 });
      return;
    }
    if (next.action === 'fetch') {
      if (state.paused) fetchRanks();
      else refresh();
    }
    draw();
  });

  const hookListeners: [string, (...args: unknown[]) => void][] = [
    ['SIGTERM', () => finish({ code: 143 })],
    ['SIGHUP', () => finish({ code: 129 })],
    ['SIGINT', () => finish({ code: 130 })],
    [
      'uncaughtException',
      (e) => finish({ code: 1, error: e instanceof Error ? e : new Error(String(e)) }),
    ],
    [
      'unhandledRejection',
      (e) => finish({ code: 1, error: e instanceof Error ? e : new Error(String(e)) }),
    ],
    // Last resort: the process exits while we still own the terminal.
    ['exit', () => isActive && output.write(LEAVE_SCREEN)],
  ];

  try {
    output.write(ENTER_SCREEN);
    for (const [event, fn] of hookListeners) options.hooks.on(event, fn);
    output.on('resize', onResize);
    monitor.on('tick', onTick);
    monitor.on('warning', onWarning);
    if (input) {
      // A lone Esc is told apart from an escape sequence by a pause; readline waits 500 ms by
      // default, which makes Esc feel slow. Terminals send a whole sequence in one write.
      emitKeypressEvents(
        input as unknown as NodeJS.ReadableStream,
        {
          escapeCodeTimeout: ESCAPE_CODE_TIMEOUT_MS,
        } as unknown as Interface,
      );
      if (input.isTTY) input.setRawMode?.(true);
      input.on('keypress', onKeypress);
      input.resume();
    }
    draw();
  } catch (error) {
    finish({ code: 1, error: error instanceof Error ? error : new Error(String(error)) });
  }

  void monitor.done.then(
    guard((end) => {
      if (end.reason === 'error') {
        finish({ code: 1, error: end.error ?? new Error('the capture failed') });
        return;
      }
      if (end.reason === 'stopped' && !isActive) return;
      try {
        refresh();
      } catch {
        // A stopped monitor may refuse snapshots: keep the last numbers on screen.
      }
      state = {
        ...state,
        data: { ...state.data, endMessage: END_TEXT[end.reason] ?? 'capture ended' },
      };
      draw();
    }),
  );
  return result;
}
