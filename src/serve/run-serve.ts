// `pidflow serve`: start the HTTP agent on a monitor, print where it listens, run until
// SIGINT/SIGTERM or the monitor ends, then shut both down and return the exit code.

import type { EventEmitter } from 'node:events';
import { UsageError, isPidflowError } from '../errors.js';
import type { Monitor, MonitorEnd } from '../monitor/types.js';
import { startServer, type RunningServer, type ServerOptions, type TlsFiles } from './server.js';

/** Where runServe writes, and where it listens for signals. */
export interface ServeIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
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
  let server: RunningServer;
  try {
    server = await startServer(monitor, options);
  } catch (error) {
    io.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
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
      io.stderr.write('pidflow serve: SIGHUP: nothing to reload\n');
      return;
    }
    try {
      const next = io.reload();
      server.reload({ token: next.token, tls: next.tls });
      for (const w of next.warnings) io.stderr.write(`warning: ${w}\n`);
      io.stderr.write(
        `pidflow serve: SIGHUP: reloaded the token${next.tls === undefined ? '' : ' and the TLS files'}\n`,
      );
    } catch (error) {
      io.stderr.write(
        `error: SIGHUP: reload failed, the previous token and certificate stay in use: ${error instanceof Error ? error.message : String(error)}\n`,
      );
    }
  };
  signals.on('SIGHUP', onHangup);
  try {
    io.stdout.write(
      `pidflow serve: listening on ${server.url} (metrics: ${server.url}/metrics, API: ${server.url}/api/v1/processes)\n`,
    );
    monitor.start();
    const first = await Promise.race([signalled, monitor.done]);
    let end: MonitorEnd;
    if (first === 'signal') {
      io.stderr.write('pidflow serve: stopping\n');
      await monitor.stop();
      end = await monitor.done;
    } else {
      end = first;
    }
    if (end.reason === 'error') {
      const message = end.error?.message ?? 'unknown error';
      io.stderr.write(`error: monitor failed: ${message}\n`);
      return 1;
    }
    if (first !== 'signal')
      io.stderr.write(`pidflow serve: monitor ended (${end.reason}), stopping\n`);
    return 0;
  } catch (error) {
    // start() can throw (StateError on a stopped monitor): report it like the CLI does.
    const code = isPidflowError(error) ? ` (${error.code})` : '';
    io.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}${code}\n`);
    await monitor.stop().catch(() => undefined);
    return 1;
  } finally {
    if (onSignal !== undefined) for (const s of SIGNALS) signals.off(s, onSignal);
    signals.off('SIGHUP', onHangup);
    await server.close();
  }
}
