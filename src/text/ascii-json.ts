// JSON for machine outputs (NDJSON lines, the HTTP API): exact values, written in ASCII only, so
// that a name's control or bidi characters are escaped even when the JSON lands in a terminal.

import type { DisplayText } from './display-text.js';

// JSON.stringify already escapes C0 controls, `"`, `\` and lone surrogates (the undecodable
// /proc bytes U+DC80-U+DCFF); this escapes DEL and everything above ASCII as well.
const NON_ASCII = /[\u007f-\uffff]/g;
const HAS_NON_ASCII = /[\u007f-\uffff]/;

function escapeUnit(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/**
 * JSON.stringify, then every non-ASCII UTF-16 code unit as `\uXXXX`: the same value for any
 * JSON parser, and safe to print to a terminal.
 * @example stringifyAsciiJson({ comm: 'é\x1b' }) === '{"comm":"\\u00e9\\u001b"}'
 */
export function stringifyAsciiJson(value: unknown, space?: number): DisplayText {
  const json = JSON.stringify(value, null, space) ?? 'null';
  return (HAS_NON_ASCII.test(json) ? json.replace(NON_ASCII, escapeUnit) : json) as DisplayText;
}
