// The agent's token and TLS files from the command line and the environment: the token comes
// from a file (--token-file) or PIDFLOW_TOKEN, never from argv (other users can read argv in ps).
// Read at start and again on SIGHUP.

import { readFileSync, statSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { checkToken } from '../serve/auth.js';
import type { TlsFiles } from '../serve/server.js';
import type { CliOptions } from './options.js';

/** Name of the environment variable that can carry the token. */
export const TOKEN_ENV = 'PIDFLOW_TOKEN';

/** What a (re)load found, and warnings to log. */
export interface ServeSecrets {
  token: string | undefined;
  tls: TlsFiles | undefined;
  warnings: string[];
}

/** Read the token (file or environment) and name the TLS files. Throws UsageError with the fix. */
export function loadServeSecrets(
  cli: Pick<CliOptions, 'tokenFile' | 'tlsCert' | 'tlsKey' | 'tlsClientCa'>,
  env: Readonly<Record<string, string | undefined>>,
): ServeSecrets {
  const warnings: string[] = [];
  let token: string | undefined;
  const fromEnv = env[TOKEN_ENV];
  if (cli.tokenFile !== undefined) {
    if (fromEnv !== undefined && fromEnv !== '') {
      throw new UsageError(
        `both --token-file and ${TOKEN_ENV} give a token: keep one (unset ${TOKEN_ENV}, or drop --token-file)`,
      );
    }
    let text: string;
    try {
      text = readFileSync(cli.tokenFile, 'utf8');
    } catch (error) {
      throw new UsageError(
        `cannot read the token file ${cli.tokenFile}: ${(error as Error).message} (create it with \`head -c 32 /dev/urandom | base64 > ${cli.tokenFile}; chmod 600 ${cli.tokenFile}\`)`,
        { cause: error },
      );
    }
    token = checkToken(text, cli.tokenFile);
    try {
      if ((statSync(cli.tokenFile).mode & 0o077) !== 0) {
        warnings.push(
          `the token file ${cli.tokenFile} can be read by other users: chmod 600 ${cli.tokenFile}`,
        );
      }
    } catch {
      // Read a moment ago: a race with a rename; the token is what counts.
    }
  } else if (fromEnv !== undefined && fromEnv !== '') {
    token = checkToken(fromEnv, TOKEN_ENV);
  }
  let tls: TlsFiles | undefined;
  if (cli.tlsCert !== undefined && cli.tlsKey !== undefined) {
    tls = {
      certFile: cli.tlsCert,
      keyFile: cli.tlsKey,
      ...(cli.tlsClientCa === undefined ? {} : { clientCaFile: cli.tlsClientCa }),
    };
  }
  return { token, tls, warnings };
}
