// The web page's static files (built by scripts/build-web.mjs into dist/web/), read once from
// the package and served with the security headers every agent response carries.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One file of the page, ready to send. */
export interface WebAsset {
  readonly contentType: string;
  readonly body: Buffer;
}

/** URL path -> file name in dist/web and its type. Nothing else is ever read. */
const FILES: Readonly<Record<string, readonly [string, string]>> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/app.css': ['app.css', 'text/css; charset=utf-8'],
  '/favicon.svg': ['favicon.svg', 'image/svg+xml'],
};

/** The paths of the page files (open without a token: they carry no data). */
export const WEB_PATHS: readonly string[] = Object.keys(FILES);

/**
 * Content-Security-Policy of every response: only this origin's script and styles, no inline
 * script or style element, no plugins, no framing. uPlot positions its elements through the
 * CSSOM (`el.style.left = ...`), which style-src does not restrict, so no 'unsafe-inline'.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Headers set on every response of the agent (page files, JSON, /metrics). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** dist/web of the package this file belongs to (from src/serve or dist/src/serve). */
export function defaultWebDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'dist', 'web');
    dir = dirname(dir);
  }
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');
}

/** The page files, read on first use and kept (a few hundred KB). */
export class WebAssets {
  private cache: Map<string, WebAsset> | undefined;

  constructor(private readonly dir: string = defaultWebDir()) {}

  /** True for a path of a page file. */
  static isWebPath(path: string): boolean {
    return Object.hasOwn(FILES, path);
  }

  /** The file of `path`, or an error message saying what is missing and how to build it. */
  get(path: string): WebAsset | string {
    if (this.cache === undefined) {
      // A failed read is not kept: a build run later is picked up by the next request.
      const cache = new Map<string, WebAsset>();
      try {
        for (const [p, [file, contentType]] of Object.entries(FILES)) {
          cache.set(p, { contentType, body: readFileSync(join(this.dir, file)) });
        }
      } catch (error) {
        return (
          `the web page is not built (${error instanceof Error ? error.message : String(error)}): ` +
          'run `npm run build` in the pidflow package; the JSON API is at /api/v1'
        );
      }
      this.cache = cache;
    }
    return this.cache.get(path) ?? `no page file for ${path}`;
  }
}
