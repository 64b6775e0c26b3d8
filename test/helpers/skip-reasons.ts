// Skip reasons with a tag, so that scripts/test.sh can tell expected skips from silent ones:
// a skip fails `npm test` unless its tag (or its test name) is listed in PIDFLOW_EXPECTED_SKIPS.
// The tags in use are listed in docs/testing.md.

/** `[tag] why`: the form every skip reason takes (scripts/check-skips.mjs reads the tag). */
export function skipReason(tag: string, why: string): string {
  return `[${tag}] ${why}`;
}

/** The skip reason of a test that needs root, or false when this process is root. */
export function needsRoot(what = 'raw capture, namespaces'): string | false {
  return process.getuid?.() === 0
    ? false
    : skipReason('needs-root', `needs root (${what}): run as root; CI does`);
}
