// The HTTPS server's PEM files: read and checked together, with errors that name the file.

import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { UsageError } from '../errors.js';

/** PEM files of the HTTPS server. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** CA bundle that client certificates must chain to; when set, clients without one are refused. */
  clientCaFile?: string;
}

export /** Read the PEM files of `tls`; errors say which file and why. */
function readTlsFiles(tls: TlsFiles): {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  requestCert: boolean;
  rejectUnauthorized: boolean;
} {
  const read = (what: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new UsageError(`cannot read the TLS ${what} ${path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  };
  const cert = read('certificate', tls.certFile);
  const key = read('key', tls.keyFile);
  const ca = tls.clientCaFile === undefined ? undefined : read('client CA', tls.clientCaFile);
  try {
    createSecureContext({ cert, key, ...(ca === undefined ? {} : { ca }) });
  } catch (error) {
    throw new UsageError(
      `the TLS certificate ${tls.certFile} and key ${tls.keyFile} do not load: ${(error as Error).message} (PEM files of the same key pair are needed)`,
      { cause: error },
    );
  }
  return {
    cert,
    key,
    ...(ca === undefined ? {} : { ca }),
    requestCert: ca !== undefined,
    rejectUnauthorized: ca !== undefined,
  };
}
