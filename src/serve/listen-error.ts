// A failed listen() as an error that says why and what to do.

import { PermissionError, PidflowError } from '../errors.js';

/** A listen failure as an error that says why and what to do. */
export function listenError(
  error: NodeJS.ErrnoException,
  host: string,
  port: number,
): PidflowError {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  switch (error.code) {
    case 'EADDRINUSE':
      return new PidflowError(
        'ERR_LISTEN',
        `cannot listen on ${where}: the port is already in use (EADDRINUSE): stop the other server or choose another port with --listen`,
        { cause: error },
      );
    case 'EACCES':
      return new PermissionError(
        `cannot listen on ${where}: permission denied (EACCES): ports below 1024 need root or CAP_NET_BIND_SERVICE; choose a port >= 1024`,
        { cause: error },
      );
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new PidflowError(
        'ERR_LISTEN',
        `cannot listen on ${where}: ${host} is not an address of this host (${error.code}): use 127.0.0.1, 0.0.0.0 or one of the host's addresses`,
        { cause: error },
      );
    default:
      return new PidflowError('ERR_LISTEN', `cannot listen on ${where}: ${error.message}`, {
        cause: error,
      });
  }
}
