// Recorded container-runtime state trees (test/fixtures/containers/) as one node: HostFiles
// that answer each path from the first tree holding it.

import { NodeHostFiles } from '../../src/attribute/host-files.js';
import type { HostFile, HostFiles } from '../../src/attribute/host-files.js';
import { containerFixture } from './fake-procfs.js';

/** One node whose state is the union of the named fixture trees (`docker`, `containerd`...). */
export function unionHostFiles(trees: readonly string[]): HostFiles {
  const roots = trees.map((t) => new NodeHostFiles(containerFixture(t)));
  const first = <T>(read: (tree: NodeHostFiles) => T): T => {
    let last: unknown;
    for (const tree of roots) {
      try {
        return read(tree);
      } catch (error) {
        last = error;
      }
    }
    throw last;
  };
  return {
    readFile: (path: string, maxBytes: number): HostFile =>
      first((t) => t.readFile(path, maxBytes)),
    readdir: (path: string): string[] => first((t) => t.readdir(path)),
    stat: (path: string) => first((t) => t.stat(path)),
  };
}
