// `pidflow serve`: start the HTTP agent on a monitor, print where it listens, run until
// SIGINT/SIGTERM or the monitor ends, then shut both down and return the exit code.

import type { EventEmitter } from 'node:events';
import { UsageError, isPidflowError } from '../errors.js';
import type { Monitor, MonitorEnd } from '../monitor/types.js';
import { displayLines, type DisplayText } from '../text/display-text.js';
import { startServer, type RunningServer, type ServerOptions, type TlsFiles } from './server.js';

/** Where runServe writes (display text only: log lines quote names), and where it listens for signals. */
export interface ServeIo {
  stdout: { write(text: DisplayText): unknown };
  stderr: { write(text: DisplayText): unknown };
  /** Emitter of 'SIGINT', 'SIGTERM' and 'SIGHUP'. @default process */
  signals?: Pick<EventEmitter, 'on' | 'off'>;
  /** On SIGHUP: the token and TLS files to use from now on (throws to keep the old ones). */
  reload?: () => { token: string | undefined; tls: TlsFiles | undefined; warnings: string[] };
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * Serve `monitor` until a signal or its end. Starts the monitor once the server listens.
 * Returns 0 after a signal, a capture timeout or the end of a replayed file, 1 when the monitor
 * failed or the server could not start, 2 for bad server options. Never throws.
 */
export async function runServe(
  monitor: Monitor,
  options: ServerOptions,
  io: ServeIo,
): Promise<number> {
  // Every log line goes through src/text: a message that quotes a name cannot act on the terminal.
  const log = (stream: 'stdout' | 'stderr', line: string): unknown =>
    io[stream].write(displayLines(`${line}\n`));
  let server: RunningServer;
  try {
    server = await startServer(monitor, options);
  } catch (error) {
    log('stderr', `error: ${error instanceof Error ? error.message : String(error)}`);
    await monitor.stop().catch(() => undefined);
    return error instanceof UsageError ? 2 : 1;
  }
  const signals = io.signals ?? process;
  let onSignal: (() => void) | undefined;
  const signalled = new Promise<'signal'>((resolve) => {
    onSignal = () => resolve('signal');
    for (const s of SIGNALS) signals.on(s, onSignal);
  });
  const onHangup = (): void => {
    if (io.reload === undefined) {
      log('stderr', 'pidflow serve: SIGHUP: nothing to reload');
      return;
    }
    try {
      const next = io.reload();
      server.reload({ token: next.token, tls: next.tls });
      for (const w of next.warnings) log('stderr', `warning: ${w}`);
      log(
        'stderr',
        `pidflow serve: SIGHUP: reloaded the token${next.tls === undefined ? '' : ' and the TLS files'}`,
      );
    } catch (error) {
      log(
        'stderr',
        `error: SIGHUP: reload failed, the previous token and certificate stay in use: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  };
  signals.on('SIGHUP', onHangup);
  try {
    log(
      'stdout',
      `pidflow serve: listening on ${server.url} (web page: ${server.url}/, metrics: ${server.url}/metrics, API: ${server.url}/api/v1)`,
    );
    monitor.start();
    const first = await Promise.race([signalled, monitor.done]);
    let end: MonitorEnd;
    if (first === 'signal') {
      log('stderr', 'pidflow serve: stopping');
      await monitor.stop();
      end = await monitor.done;
    } else {
      end = first;
    }
    if (end.reason === 'error') {
      const message = end.error?.message ?? 'unknown error';
      log('stderr', `error: monitor failed: ${message}`);
      return 1;
    }
    if (first !== 'signal') log('stderr', `pidflow serve: monitor ended (${end.reason}), stopping`);
    return 0;
  } catch (error) {
    // start() can throw (StateError on a stopped monitor): report it like the CLI does.
    const code = isPidflowError(error) ? ` (${error.code})` : '';
    log('stderr', `error: ${error instanceof Error ? error.message : String(error)}${code}`);
    await monitor.stop().catch(() => undefined);
    return 1;
  } finally {
    if (onSignal !== undefined) for (const s of SIGNALS) signals.off(s, onSignal);
    signals.off('SIGHUP', onHangup);
    await server.close();
  }
}
