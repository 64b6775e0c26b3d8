// Lossless bytes <-> string for names read from /proc and /etc/passwd: valid UTF-8 decodes as
// usual; each byte that is not part of valid UTF-8 becomes the lone surrogate U+DC80 + byte
// ("surrogateescape", Python's PEP 383), which no valid UTF-8 can produce, so it reverses exactly.

import { isUtf8 } from 'node:buffer';
import { ESCAPED_BYTE_FIRST, ESCAPED_BYTE_LAST } from './escaped-byte.js';

export { ESCAPED_BYTE_FIRST, ESCAPED_BYTE_LAST };

/**
 * Decodes bytes without losing any: valid UTF-8 as usual, every other byte as U+DC80 + byte.
 * Fast path: valid UTF-8 (almost every name) is one native check and one native decode.
 * @example decodeBytes(Buffer.from([0x61, 0xff])) === 'a\udcff'
 */
export function decodeBytes(bytes: Uint8Array, start = 0, end = bytes.length): string {
  const view = start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end);
  if (isUtf8(view)) return Buffer.from(view.buffer, view.byteOffset, view.length).toString('utf8');
  let out = '';
  let i = 0;
  while (i < view.length) {
    const length = utf8SequenceLength(view, i);
    if (length > 0) {
      out += Buffer.from(view.buffer, view.byteOffset + i, length).toString('utf8');
      i += length;
    } else {
      out += String.fromCharCode(ESCAPED_BYTE_FIRST - 0x80 + view[i]!);
      i++;
    }
  }
  return out;
}

/**
 * The exact bytes a {@link decodeBytes} string came from: U+DC80-U+DCFF back to one byte each,
 * everything else as UTF-8 (other lone surrogates, which /proc never yields, as U+FFFD).
 * @example encodeBytes('a\udcff') // <Buffer 61 ff>
 */
export function encodeBytes(text: string): Buffer {
  if (!/[\udc80-\udcff]/.test(text)) return Buffer.from(text, 'utf8');
  const parts: Buffer[] = [];
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < ESCAPED_BYTE_FIRST || c > ESCAPED_BYTE_LAST) continue;
    // A low surrogate after a high one is half of a real character, not an escaped byte.
    const previous = i > 0 ? text.charCodeAt(i - 1) : 0;
    if (previous >= 0xd800 && previous <= 0xdbff) continue;
    parts.push(Buffer.from(text.slice(from, i), 'utf8'), Buffer.of(c - ESCAPED_BYTE_FIRST + 0x80));
    from = i + 1;
  }
  parts.push(Buffer.from(text.slice(from), 'utf8'));
  return Buffer.concat(parts);
}

/**
 * Length of the well-formed UTF-8 sequence at `i` (1-4), or 0 when the byte there does not
 * start one (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
 */
function utf8SequenceLength(b: Uint8Array, i: number): number {
  const b0 = b[i]!;
  if (b0 < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => {
    const v = b[i + k];
    return v !== undefined && v >= lo && v <= hi;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if (b0 === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (b0 >= 0xe1 && b0 <= 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (b0 === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (b0 >= 0xf1 && b0 <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (b0 === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/**
 * Length of the longest prefix of `bytes[0, end)` that does not end inside a UTF-8 sequence:
 * a bounded read cut in the middle of a character drops the partial character instead of
 * showing its first bytes as undecodable.
 */
export function utf8BoundaryBefore(whole: Uint8Array, end: number): number {
  const bytes = whole.subarray(0, end);
  // Walk back over at most 3 continuation bytes to the lead byte, then check it is complete.
  let lead = end - 1;
  while (lead >= 0 && end - lead <= 3 && (bytes[lead]! & 0xc0) === 0x80) lead--;
  if (lead < 0) return end;
  const length = utf8SequenceLength(bytes, lead);
  // An incomplete sequence reads as 0 here only because the bytes after `end` are cut.
  const b0 = bytes[lead]!;
  const wanted = b0 >= 0xf0 ? 4 : b0 >= 0xe0 ? 3 : b0 >= 0xc0 ? 2 : 1;
  if (length === 0 && lead + wanted > end && b0 >= 0xc2 && b0 <= 0xf4) return lead;
  return end;
}

/**
 * A name as a database stores it without loss: the string itself when it holds no undecodable
 * byte (U+DC80-U+DCFF), else its exact bytes (a BLOB), since a driver writing UTF-8 would turn each
 * undecodable byte into U+FFFD. Read it back with {@link fromStoredName}.
 */
export function toStoredName(text: string): string | Buffer {
  return /[\udc80-\udcff]/.test(text) ? encodeBytes(text) : text;
}

/** The name a {@link toStoredName} value stood for. */
export function fromStoredName(value: string | Uint8Array): string {
  return typeof value === 'string' ? value : decodeBytes(value);
}
