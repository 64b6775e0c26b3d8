// The installed pidflow version, read once from the package.json above this file (works from
// src/ under tsx and from the compiled dist/src/).

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** `version` of pidflow's package.json, or 'unknown' when it cannot be read. */
export function readPackageVersion(): string {
  if (cached !== undefined) return cached;
  cached = 'unknown';
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth++) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
        if (pkg.name === 'pidflow' && typeof pkg.version === 'string') cached = pkg.version;
      } catch {
        // An unreadable package.json only costs the version label.
      }
      break;
    }
    dir = dirname(dir);
  }
  return cached;
}
