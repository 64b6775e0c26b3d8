import test from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_COMBINING_MARKS,
  MAX_DISPLAY_CELLS,
  display,
  displayLines,
  displayWidth,
  fitDisplay,
  padDisplay,
  toDisplayText,
  type DisplayText,
} from './display-text.js';
import { decodeBytes } from './bytes.js';

// Every character that could act on a terminal or hide what a name says.
const ACTIVE =
  // eslint-disable-next-line no-control-regex
  /[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u2028\u2029]/;

const CASES: readonly [string, string, string, number][] = [
  // [what, untrusted input, shown as, width in cells]
  ['plain ASCII', 'nginx: worker', 'nginx: worker', 13],
  ['empty', '', '', 0],
  ['CSI clear screen', 'a\x1b[2Jb', 'a\\x1b[2Jb', 9],
  ['OSC window title', '\x1b]0;pwned\x07', '\\x1b]0;pwned\\x07', 16],
  ['line feed forges a row', 'x\n4242 root 9 GiB/s', 'x\\n4242 root 9 GiB/s', 20],
  ['CR, tab, NUL, DEL', '\r\t\0\x7f', '\\r\\t\\x00\\x7f', 12],
  ['C1 CSI and NEL', 'a\u009b31mb\u0085', 'a\\u009b31mb\\u0085', 17],
  ['bidi override', 'evil\u202etxt.exe', 'evil\\u202etxt.exe', 17],
  [
    'bidi embeddings and isolates',
    '\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069',
    '\\u202a\\u202b\\u202c\\u202d\\u2066\\u2067\\u2068\\u2069',
    48,
  ],
  ['LRM, RLM, ALM', '\u200e\u200f\u061c', '\\u200e\\u200f\\u061c', 18],
  ['zero-width space and joiners', 's\u200bs\u200ch\u200dd', 's\\u200bs\\u200ch\\u200dd', 22],
  ['BOM and word joiner', '\ufeffa\u2060', '\\ufeffa\\u2060', 13],
  ['line and paragraph separators', 'a\u2028b\u2029', 'a\\u2028b\\u2029', 14],
  ['backslash is doubled', 'C:\\x1b', 'C:\\\\x1b', 7],
  [
    'invalid UTF-8 bytes from /proc',
    decodeBytes(Buffer.from([0x61, 0xff, 0xc3, 0x62])),
    'a\\xff\\xc3b',
    10,
  ],
  ['other lone surrogate', 'a\ud800', 'a\\ud800', 7],
  ['CJK is two cells', '数据库', '数据库', 6],
  ['fullwidth letters', 'ＡＢ', 'ＡＢ', 4],
  ['emoji is two cells', 'py🐍', 'py🐍', 4],
  ['emoji with VS16 keeps it', '😀\ufe0f', '😀\ufe0f', 2],
  ['VS16 after a narrow base is escaped', '\u2764\ufe0f', '\u2764\\ufe0f', 7],
  ['combining accent takes no cell', 'cafe\u0301', 'cafe\u0301', 4],
  ['combining mark with no base', '\u0301x', '\\u0301x', 7],
  ['combining mark after an escape', '\x1b\u0301', '\\x1b\\u0301', 10],
  [
    'stacked combining marks beyond the limit',
    'a' + '\u0300'.repeat(MAX_COMBINING_MARKS + 1),
    'a' + '\u0300'.repeat(MAX_COMBINING_MARKS) + '\\u0300',
    7,
  ],
  ['Hangul conjoining jamo', '\u1100\u1161\u11a8', '\u1100\u1161\u11a8', 2],
  ['unassigned code point', '\u0378', '\\u0378', 6],
  ['astral unassigned', String.fromCodePoint(0xe0001), '\\u{e0001}', 9],
  ['mixed attack', 'x\x1b[31m\u202e\n\udcff数', 'x\\x1b[31m\\u202e\\n\\xff数', 23],
];

for (const [what, input, shown, cells] of CASES) {
  test(`display text: ${what}`, () => {
    const out = toDisplayText(input);
    assert.equal(out, shown);
    assert.equal(displayWidth(out), cells);
    assert.doesNotMatch(out, ACTIVE);
  });
}

test('display text is bounded: a 1 MB hostile name becomes at most MAX_DISPLAY_CELLS cells', () => {
  const huge = 'A\x1b[2J数\u202e'.repeat(150_000);
  const out = toDisplayText(huge);
  assert.ok(displayWidth(out) <= MAX_DISPLAY_CELLS);
  assert.ok(out.endsWith('…'));
  assert.doesNotMatch(out, ACTIVE);
});

test('display text at the length bound: exactly maxCells passes whole, one more is cut', () => {
  assert.equal(toDisplayText('a'.repeat(10), 10), 'a'.repeat(10));
  assert.equal(toDisplayText('a'.repeat(11), 10), 'a'.repeat(9) + '…');
  // A wide character that would straddle the bound is left out, never halved.
  const cut = toDisplayText('aaaaaaaa数数', 10);
  assert.equal(cut, 'aaaaaaaa…');
  assert.ok(displayWidth(cut) <= 10);
  // An escape that would cross the bound is left out whole.
  const escaped = toDisplayText('aaaaaaa\x1b[2J', 10);
  assert.equal(escaped, 'aaaaaaa…');
});

test('fitDisplay pads and cuts by cells, never halving a wide character', () => {
  const t = (s: string): DisplayText => toDisplayText(s);
  assert.equal(fitDisplay(t('ab'), 4), 'ab  ');
  assert.equal(fitDisplay(t('ab'), 4, 'right'), '  ab');
  assert.equal(fitDisplay(t('数据库'), 6), '数据库');
  assert.equal(fitDisplay(t('数据库'), 5), '数据…');
  assert.equal(fitDisplay(t('数据库'), 4), '数 …');
  assert.equal(displayWidth(fitDisplay(t('数据库'), 4)), 4);
  assert.equal(fitDisplay(t('cafe\u0301s'), 5), 'cafe\u0301s');
  assert.equal(fitDisplay(t('cafe\u0301s'), 4), 'caf…');
  assert.equal(fitDisplay(t('a\x1b[2J'), 3), 'a\\…');
  assert.equal(fitDisplay(t('x'), 0), '');
  assert.equal(padDisplay(t('数'), 4, 'right'), '  数');
  for (let width = 1; width <= 12; width++) {
    for (const s of ['数据库abc', 'py🐍🐍x', 'e\u0301e\u0301e\u0301e\u0301', 'a\x1b\u202eb']) {
      assert.equal(displayWidth(fitDisplay(t(s), width)), width, `${s} at ${width}`);
    }
  }
});

test('displayWidth does not count our own SGR styles', () => {
  const styled = `\x1b[7m${toDisplayText('数x')}\x1b[0m` as DisplayText;
  assert.equal(displayWidth(styled), 3);
});

test('displayLines keeps our line feeds and escapes everything else', () => {
  assert.equal(
    displayLines('error: bad\x1b]0;x\x07\nhint: fix'),
    'error: bad\\x1b]0;x\\x07\nhint: fix',
  );
});

test('display template: literals are ours, values must be display text or numbers', () => {
  const comm = toDisplayText('a\nb');
  assert.equal(display`${42} ${comm} ok`, '42 a\\nb ok');
});

test('sanitizing costs little on the common case (plain names are returned as is)', () => {
  const name = 'postgres: checkpointer';
  assert.equal(toDisplayText(name), name);
});
