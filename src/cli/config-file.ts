// `--config FILE`: the agent's options in a JSON file (the long option names as keys), read at
// start and again on SIGHUP. Options on the command line win over the file's.

import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';

/** Keys that become options (all take a value unless listed as flags). */
const VALUE_KEYS = new Set([
  'listen',
  'interval',
  'filter',
  'sync-interval',
  'timeout',
  'token-file',
  'tls-cert',
  'tls-key',
  'tls-client-ca',
  'history-db',
  'history-max-size',
  'history-retention',
  'history-interval',
  'max-series',
  'series-grace',
  'exited-retention',
  'pcap',
  'pcap-rotate',
  'pcap-files',
  'cpu-limit',
  'mem-limit',
]);
const FLAG_KEYS = new Set(['include-loopback', 'tcp', 'udp', 'debug']);
/** Flags whose false value is a --no- option. */
const NEGATABLE_KEYS = new Set(['udp-events']);
const MAX_CONFIG_BYTES = 65_536;

/** The command line with `--config FILE` replaced by the file's options. */
export interface ExpandedArgs {
  argv: string[];
  configFile: string | undefined;
}

/** Replace `--config FILE` in `argv` (after `serve`) by the options of the file. */
export function expandConfigFile(argv: readonly string[]): ExpandedArgs {
  const i = argv.findIndex((a) => a === '--config' || a.startsWith('--config='));
  if (i < 0) return { argv: [...argv], configFile: undefined };
  const arg = argv[i]!;
  const file = arg.startsWith('--config=') ? arg.slice('--config='.length) : argv[i + 1];
  if (file === undefined || file === '')
    throw new UsageError('--config needs a file: --config /etc/pidflow/pidflow.json');
  const rest = [...argv.slice(0, i), ...argv.slice(arg.startsWith('--config=') ? i + 1 : i + 2)];
  const fromFile = readConfigArgs(file);
  // After `serve` (kept first), before the command line's own options, so those win.
  const at = rest[0] === 'serve' ? 1 : 0;
  return { argv: [...rest.slice(0, at), ...fromFile, ...rest.slice(at)], configFile: file };
}

/** The options of a config file as command-line arguments. */
export function readConfigArgs(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read the config file ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (text.length > MAX_CONFIG_BYTES)
    throw new UsageError(`the config file ${file} is over 64 KiB: is it the right file?`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`the config file ${file} is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new UsageError(
      `the config file ${file} must hold a JSON object such as {"listen": "127.0.0.1:9465"}`,
    );
  }
  const args: string[] = [];
  const devices: string[] = [];
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    const where = `${file}: "${key}"`;
    if (key === 'token') {
      throw new UsageError(
        `${where}: put the token in its own file (mode 600) and name it with "token-file"`,
      );
    }
    if (key === 'devices') {
      if (!Array.isArray(value) || !value.every((d) => typeof d === 'string')) {
        throw new UsageError(`${where} must be a list of device names, e.g. ["eth0"]`);
      }
      devices.push(...(value as string[]));
    } else if (VALUE_KEYS.has(key)) {
      if (typeof value !== 'string' && typeof value !== 'number') {
        throw new UsageError(`${where} must be a string or a number`);
      }
      args.push(`--${key}`, String(value));
    } else if (FLAG_KEYS.has(key) || NEGATABLE_KEYS.has(key)) {
      if (typeof value !== 'boolean') throw new UsageError(`${where} must be true or false`);
      if (value && FLAG_KEYS.has(key)) args.push(`--${key}`);
      if (!value && NEGATABLE_KEYS.has(key)) args.push(`--no-${key}`);
    } else {
      throw new UsageError(
        `${where} is not an option of pidflow serve (allowed: devices, ${[...VALUE_KEYS, ...FLAG_KEYS, ...NEGATABLE_KEYS].join(', ')})`,
      );
    }
  }
  return [...args, ...devices];
}
