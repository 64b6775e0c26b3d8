// The one place that turns untrusted text (process names, command lines, users, container
// names, messages that quote them) into text safe to show to a person: DisplayText. Terminal
// writers (TUI, --text, stderr) take only DisplayText, so a raw name cannot reach them by accident.

import { eastAsianWidth } from 'get-east-asian-width';
// No Node import here: a web page can load this module too (with an import map for
// get-east-asian-width), so that it escapes names exactly as the terminal does.
import { ESCAPED_BYTE_FIRST, ESCAPED_BYTE_LAST } from './escaped-byte.js';

declare const displayTextBrand: unique symbol;

/**
 * Text that is safe to write to a terminal or show in a page: no control characters, escape
 * sequences, bidirectional controls or invisible characters (they are shown escaped, as `\x1b`,
 * `\n`, `\u202e`), and a known width in terminal cells ({@link displayWidth}). Made only by this
 * module: {@link toDisplayText}, {@link displayLines}, the {@link display} template tag.
 */
export type DisplayText = string & { readonly [displayTextBrand]: true };

/**
 * Any string that is not already DisplayText: sanitizing display text twice would show its
 * escapes escaped again (`\\x1b`), so the compiler refuses it.
 */
export type UntrustedText = string & { readonly [displayTextBrand]?: never };

/** Most cells one {@link toDisplayText} result takes; longer text ends with `…`. */
export const MAX_DISPLAY_CELLS = 4096;

/** Most combining marks kept on one character; more (stacked "zalgo" text) are shown escaped. */
export const MAX_COMBINING_MARKS = 4;

/** The ellipsis that ends truncated text. */
const ELLIPSIS = '…';

// Printable ASCII except the backslash: the common case, passed through as is.
const PLAIN_ASCII = /^[\x20-\x5b\x5d-\x7e]*$/;
// Shown escaped: format characters (bidi controls, zero-width space/joiners, soft hyphen, BOM),
// line/paragraph separators, unassigned code points, and every default-ignorable (invisible) one.
const ESCAPED = /^[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cn}\p{Default_Ignorable_Code_Point}]$/u;
const COMBINING = /^[\p{Mn}\p{Me}]$/u;
const VARIATION_SELECTOR_EMOJI = 0xfe0f;

const NAMED_ESCAPES: Record<number, string> = { 0x09: '\\t', 0x0a: '\\n', 0x0d: '\\r' };

// How a code point is shown: printable (takes `eastAsianWidth` cells), a combining mark (zero
// cells, drawn on the character before it), or escaped.
const Kind = { Base: 0, Mark: 1, Escape: 2 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];

// Cache of the class of non-ASCII code points: regex tests cost ~100 ns, names repeat each second.
const kindCache = new Map<number, Kind>();
const KIND_CACHE_LIMIT = 4096;

function kindOf(cp: number): Kind {
  const cached = kindCache.get(cp);
  if (cached !== undefined) return cached;
  const ch = String.fromCodePoint(cp);
  let kind: Kind;
  if (cp <= 0x9f)
    kind = Kind.Escape; // C1 controls (C0 and DEL are handled before).
  else if (cp === VARIATION_SELECTOR_EMOJI)
    kind = Kind.Mark; // Kept only after a wide base.
  else if (ESCAPED.test(ch)) kind = Kind.Escape;
  else if (COMBINING.test(ch) || isConjoiningJamo(cp)) kind = Kind.Mark;
  else kind = Kind.Base;
  if (kindCache.size >= KIND_CACHE_LIMIT) kindCache.clear();
  kindCache.set(cp, kind);
  return kind;
}

/** Hangul medial vowels and final consonants: zero width after an initial (as wcwidth). */
function isConjoiningJamo(cp: number): boolean {
  return (cp >= 0x1160 && cp <= 0x11ff) || (cp >= 0xd7b0 && cp <= 0xd7ff);
}

function hex(value: number, digits: number): string {
  return value.toString(16).padStart(digits, '0');
}

/** The escape for one code point (or one undecodable byte) that is not shown as itself. */
function escapeOf(cp: number): string {
  const named = NAMED_ESCAPES[cp];
  if (named !== undefined) return named;
  if (cp < 0x20 || cp === 0x7f) return `\\x${hex(cp, 2)}`;
  if (cp >= ESCAPED_BYTE_FIRST && cp <= ESCAPED_BYTE_LAST)
    return `\\x${hex(cp - ESCAPED_BYTE_FIRST + 0x80, 2)}`;
  return cp > 0xffff ? `\\u{${hex(cp, 5)}}` : `\\u${hex(cp, 4)}`;
}

/** Width in cells of a printable code point: 2 for East Asian wide and fullwidth (CJK, emoji). */
function baseWidth(cp: number): number {
  return cp < 0x7f ? 1 : eastAsianWidth(cp, { ambiguousAsWide: false });
}

/**
 * Makes untrusted text displayable. Shown escaped: C0 and C1 control characters and DEL
 * (`\x1b`, `\n`, `\t`, `\u009b`), so no escape sequence can start; bidirectional overrides and
 * isolates, zero-width and other invisible characters (`\u202e`, `\u200b`); bytes that were not
 * valid UTF-8 in /proc (`\xff`, see decodeBytes); a combining mark with nothing to combine with
 * or beyond {@link MAX_COMBINING_MARKS}; and the backslash itself (`\\`), so an escape always
 * means the character was there. Text longer than `maxCells` ends with `…`.
 * @param maxCells most cells of the result. @default MAX_DISPLAY_CELLS
 * @example toDisplayText('evil\x1b[2J\u202e') === 'evil\\x1b[2J\\u202e'
 */
export function toDisplayText(untrusted: UntrustedText, maxCells = MAX_DISPLAY_CELLS): DisplayText {
  if (untrusted.length <= maxCells && PLAIN_ASCII.test(untrusted))
    return untrusted as string as DisplayText;
  let out = '';
  let cells = 0;
  let marks = 0;
  // Width of the last printable character, 0 when the last thing written was an escape.
  let lastWidth = 0;
  for (let i = 0; i < untrusted.length;) {
    let cp = untrusted.charCodeAt(i);
    let units = 1;
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < untrusted.length) {
      const low = untrusted.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        units = 2;
      }
    }
    i += units;
    let piece: string;
    let width: number;
    if (cp >= 0x20 && cp < 0x7f && cp !== 0x5c) {
      piece = String.fromCharCode(cp);
      width = 1;
    } else if (cp === 0x5c) {
      piece = '\\\\';
      width = 2;
    } else if (cp < 0x20 || cp === 0x7f || (cp >= 0xd800 && cp <= 0xdfff)) {
      piece = escapeOf(cp);
      width = piece.length;
    } else {
      const kind = kindOf(cp);
      const isKeptMark =
        kind === Kind.Mark &&
        lastWidth > 0 &&
        marks < MAX_COMBINING_MARKS &&
        (cp !== VARIATION_SELECTOR_EMOJI || lastWidth === 2);
      if (isKeptMark) {
        out += String.fromCodePoint(cp);
        marks++;
        continue;
      }
      if (kind === Kind.Base) {
        piece = String.fromCodePoint(cp);
        width = baseWidth(cp);
      } else {
        piece = escapeOf(cp);
        width = piece.length;
      }
    }
    if (cells + width > maxCells) {
      // Room for the ellipsis: cut what is there to one cell less.
      out = truncateToCells(out as DisplayText, maxCells - 1) + ELLIPSIS;
      break;
    }
    const isEscape = piece.length > 1 && piece.charCodeAt(0) === 0x5c;
    out += piece;
    cells += width;
    marks = 0;
    lastWidth = isEscape ? 0 : width;
  }
  return out as DisplayText;
}

/**
 * Makes a multi-line message displayable: each line as {@link toDisplayText}, the line feeds
 * between them kept (for messages whose lines are ours; a name inside one must not carry `\n`
 * of its own: quote it with toDisplayText first, or put it in a {@link display} template).
 */
export function displayLines(untrusted: UntrustedText): DisplayText {
  return untrusted
    .split('\n')
    .map((line) => toDisplayText(line))
    .join('\n') as DisplayText;
}

// Not typeable into a prompt: controls, format and invisible characters, surrogates, unassigned,
// private use, separators other than the space, and combining marks on their own.
const UNTYPEABLE = /[\p{C}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\p{Mn}\p{Me}]/u;

/**
 * True when `key` is one printable character that a prompt may take as typed text (a pasted
 * control character, escape sequence or bidi override is not).
 */
export function isTypeableCharacter(key: string): boolean {
  if (key.length === 0 || key.length > 2) return false;
  const cp = key.codePointAt(0)!;
  if (String.fromCodePoint(cp) !== key) return false;
  return !UNTYPEABLE.test(key);
}

/** A value that may go into a {@link display} template as is. */
export type DisplayPart = DisplayText | number | bigint | boolean;

/**
 * Template tag for display text: the literal parts are the program's own text, every
 * interpolated value must already be DisplayText (or a number).
 * @example display`${pid} ${toDisplayText(comm)}: ${sentBytes} bytes`
 */
export function display(
  strings: TemplateStringsArray,
  ...values: readonly DisplayPart[]
): DisplayText {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += String(values[i]) + (strings[i + 1] ?? '');
  return out as DisplayText;
}

/** Joins display texts with a separator of spaces, a comma, a bar or a line feed. */
export function joinDisplay(
  parts: readonly DisplayText[],
  separator: '' | ' ' | '  ' | ', ' | ',' | ' · ' | ' │ ' | '\n',
): DisplayText {
  return parts.join(separator) as DisplayText;
}

// Our own SGR sequences (styles of the TUI): zero cells. Display text never holds ESC otherwise.
// eslint-disable-next-line no-control-regex
const SGR_AT = /\x1b\[[0-9;]*m/y;

/** Cells a display text takes in a terminal (its styles take none). */
export function displayWidth(text: DisplayText): number {
  if (PLAIN_ASCII.test(text)) return text.length;
  let cells = 0;
  for (let i = 0; i < text.length;) {
    const cp = text.codePointAt(i)!;
    if (cp === 0x1b) {
      SGR_AT.lastIndex = i;
      if (SGR_AT.test(text)) {
        i = SGR_AT.lastIndex;
        continue;
      }
    }
    i += cp > 0xffff ? 2 : 1;
    cells += cellsOf(cp);
  }
  return cells;
}

function cellsOf(cp: number): number {
  if (cp < 0x7f) return cp < 0x20 ? 0 : 1;
  return kindOf(cp) === Kind.Mark ? 0 : baseWidth(cp);
}

/** The longest prefix of `text` that fits in `cells`, never cutting a character in half. */
function truncateToCells(text: DisplayText, cells: number): DisplayText {
  let used = 0;
  let i = 0;
  while (i < text.length) {
    const cp = text.codePointAt(i)!;
    if (cp === 0x1b) {
      SGR_AT.lastIndex = i;
      if (SGR_AT.test(text)) {
        i = SGR_AT.lastIndex;
        continue;
      }
    }
    const w = cellsOf(cp);
    if (used + w > cells) break;
    used += w;
    i += cp > 0xffff ? 2 : 1;
  }
  return text.slice(0, i) as DisplayText;
}

/**
 * Cuts or pads display text to exactly `width` cells. Cut text ends with `…`; a wide character
 * that would straddle the edge is left out and the gap padded, never cut in half.
 * @param align which side the text keeps when padded. @default 'left'
 */
export function fitDisplay(
  text: DisplayText,
  width: number,
  align: 'left' | 'right' = 'left',
): DisplayText {
  if (width <= 0) return '' as DisplayText;
  const used = displayWidth(text);
  if (used <= width) {
    const padding = ' '.repeat(width - used);
    return (align === 'right' ? padding + text : text + padding) as DisplayText;
  }
  const kept = truncateToCells(text, width - 1);
  return (kept + ' '.repeat(width - 1 - displayWidth(kept)) + ELLIPSIS) as DisplayText;
}

/** Pads display text with spaces to at least `width` cells (never cuts). */
export function padDisplay(
  text: DisplayText,
  width: number,
  align: 'left' | 'right' = 'left',
): DisplayText {
  const used = displayWidth(text);
  if (used >= width) return text;
  const padding = ' '.repeat(width - used);
  return (align === 'right' ? padding + text : text + padding) as DisplayText;
}

/** Display text without trailing spaces. */
export function trimDisplayEnd(text: DisplayText): DisplayText {
  return text.trimEnd() as DisplayText;
}

/** Wraps display text in one of our SGR styles (`1` bold, `7` inverse, `33` yellow...). */
export function styleDisplay(sgr: number, text: DisplayText): DisplayText {
  return `\x1b[${sgr}m${text}\x1b[0m` as DisplayText;
}
