// Bearer-token checks of the HTTP agent: constant-time comparison, failures counted, and a
// per-address limit on failures (a bounded table) so a token cannot be guessed at line rate.

import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { UsageError } from '../errors.js';

/** Failed attempts per address within the window before the address is refused unchecked. */
export const MAX_AUTH_FAILURES = 10;
/** Window of the failure limit, ms. */
export const AUTH_WINDOW_MS = 60_000;
/** Addresses remembered at most; beyond it, the oldest entry is dropped (and counted). */
const MAX_TRACKED_ADDRESSES = 10_000;
/** Shortest token accepted: 16 characters (about 96 bits from base64 of random bytes). */
export const MIN_TOKEN_CHARS = 16;

/** The outcome of a check that failed: HTTP status, code and message. */
export interface AuthRefusal {
  status: 401 | 403 | 429;
  code: string;
  message: string;
}

/** True for addresses that only this host can reach (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (host === '::1' || host === '0:0:0:0:0:0:0:1') return true;
  return /^::ffff:127\./i.test(host);
}

/** Check a token's form; throws UsageError saying what is wrong. */
export function checkToken(token: string, source: string): string {
  const t = token.trim();
  if (t.length < MIN_TOKEN_CHARS) {
    throw new UsageError(
      `the token from ${source} has ${t.length} characters; use at least ${MIN_TOKEN_CHARS}, e.g. \`head -c 32 /dev/urandom | base64 > /etc/pidflow/token\``,
    );
  }
  if (!/^[\x21-\x7e]+$/.test(t)) {
    throw new UsageError(
      `the token from ${source} has spaces or non-ASCII characters; use printable ASCII only (base64 of random bytes is fine)`,
    );
  }
  return t;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

interface Failures {
  count: number;
  windowStartMs: number;
}

/** Checks requests against the configured token. */
export class Authenticator {
  private tokenDigest: Buffer | undefined;
  private readonly failuresByAddress = new Map<string, Failures>();
  /** Requests refused for a missing or wrong token. */
  failures = 0;
  /** Requests refused unchecked because their address failed too often. */
  rateLimited = 0;
  /** Addresses forgotten early because the table was full. */
  droppedAddresses = 0;

  constructor(
    token: string | undefined,
    private readonly now: () => number,
  ) {
    this.setToken(token);
  }

  /** True when a token is configured. */
  get hasToken(): boolean {
    return this.tokenDigest !== undefined;
  }

  /** Replace the token (SIGHUP); undefined removes it. */
  setToken(token: string | undefined): void {
    this.tokenDigest = token === undefined ? undefined : digest(token);
  }

  /**
   * Check one request. `isStateChanging` requests need a token even where reads do not.
   * Returns undefined when allowed, else the refusal.
   */
  check(
    address: string,
    authorization: string | undefined,
    isStateChanging: boolean,
  ): AuthRefusal | undefined {
    if (this.tokenDigest === undefined) {
      if (!isStateChanging) return undefined;
      return {
        status: 403,
        code: 'ERR_TOKEN_REQUIRED',
        message:
          'requests that change state need a token: start the agent with --token-file or PIDFLOW_TOKEN',
      };
    }
    const nowMs = this.now();
    const f = this.failuresByAddress.get(address);
    if (
      f !== undefined &&
      nowMs - f.windowStartMs < AUTH_WINDOW_MS &&
      f.count >= MAX_AUTH_FAILURES
    ) {
      this.rateLimited++;
      return {
        status: 429,
        code: 'ERR_AUTH_RATE_LIMITED',
        message: `too many failed authentications from this address: wait ${Math.ceil((f.windowStartMs + AUTH_WINDOW_MS - nowMs) / 1000)} s`,
      };
    }
    const match = /^Bearer +(\S+) *$/i.exec(authorization ?? '');
    // Hashing first makes the comparison constant-time whatever the lengths.
    if (match !== null && timingSafeEqual(digest(match[1]!), this.tokenDigest)) return undefined;
    this.failures++;
    this.recordFailure(address, nowMs);
    return {
      status: 401,
      code: 'ERR_UNAUTHORIZED',
      message:
        authorization === undefined
          ? 'this agent needs a token: send the header "Authorization: Bearer <token>"'
          : 'the token is wrong',
    };
  }

  private recordFailure(address: string, nowMs: number): void {
    const f = this.failuresByAddress.get(address);
    if (f !== undefined && nowMs - f.windowStartMs < AUTH_WINDOW_MS) {
      f.count++;
      return;
    }
    this.failuresByAddress.delete(address);
    if (this.failuresByAddress.size >= MAX_TRACKED_ADDRESSES) {
      for (const [key, old] of this.failuresByAddress) {
        if (nowMs - old.windowStartMs >= AUTH_WINDOW_MS) this.failuresByAddress.delete(key);
      }
      if (this.failuresByAddress.size >= MAX_TRACKED_ADDRESSES) {
        // Maps iterate in insertion order: the first key is the oldest window.
        const oldest = this.failuresByAddress.keys().next().value;
        if (oldest !== undefined) this.failuresByAddress.delete(oldest);
        this.droppedAddresses++;
      }
    }
    this.failuresByAddress.set(address, { count: 1, windowStartMs: nowMs });
  }
}

/** The token, or a UsageError when a non-loopback address has none. */
export function requireToken(host: string, token: string | undefined): string | undefined {
  if (token !== undefined) return checkToken(token, 'the token option');
  if (isLoopbackHost(host)) return undefined;
  throw new UsageError(
    `listening on ${host} (not loopback) needs a token, so that only your scrapers and users can read the API: ` +
      'create one with `install -m 600 /dev/null /etc/pidflow/token && head -c 32 /dev/urandom | base64 > /etc/pidflow/token` ' +
      'and pass --token-file /etc/pidflow/token (or set PIDFLOW_TOKEN); clients send "Authorization: Bearer <token>"',
  );
}
