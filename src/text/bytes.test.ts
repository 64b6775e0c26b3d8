import test from 'node:test';
import assert from 'node:assert/strict';
import { decodeBytes, encodeBytes, utf8BoundaryBefore } from './bytes.js';

const CASES: readonly [string, number[], string][] = [
  ['ASCII', [0x61, 0x62], 'ab'],
  ['valid UTF-8', [0xc3, 0xa9, 0xe6, 0x95, 0xb0], 'é数'],
  ['lone continuation byte', [0x80], '\udc80'],
  ['0xff', [0x61, 0xff], 'a\udcff'],
  ['truncated sequence', [0xe6, 0x95], '\udce6\udc95'],
  ['overlong slash', [0xc0, 0xaf], '\udcc0\udcaf'],
  ['encoded surrogate (CESU)', [0xed, 0xa0, 0x80], '\udced\udca0\udc80'],
  ['above U+10FFFF', [0xf4, 0x90, 0x80, 0x80], '\udcf4\udc90\udc80\udc80'],
  ['valid then invalid then valid', [0xf0, 0x9f, 0x90, 0x8d, 0xfe, 0x41], '🐍\udcfeA'],
];

for (const [what, bytes, text] of CASES) {
  test(`decodeBytes keeps every byte: ${what}`, () => {
    const buffer = Buffer.from(bytes);
    assert.equal(decodeBytes(buffer), text);
    assert.deepEqual([...encodeBytes(text)], bytes);
  });
}

test('decodeBytes/encodeBytes round-trip random byte strings exactly', () => {
  let seed = 12345;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  for (let n = 0; n < 2000; n++) {
    const length = random() % 40;
    const bytes = Buffer.alloc(length);
    for (let i = 0; i < length; i++) {
      // Mostly bytes around UTF-8 boundaries, where decoders go wrong.
      const r = random() % 4;
      bytes[i] = r === 0 ? random() % 0x80 : 0x80 + (random() % 0x80);
    }
    const text = decodeBytes(bytes);
    assert.deepEqual(encodeBytes(text), bytes);
    // The text is valid JSON material and comes back the same through JSON.
    assert.deepEqual(encodeBytes(JSON.parse(JSON.stringify(text)) as string), bytes);
  }
});

test('utf8BoundaryBefore drops a character cut by a bounded read, keeps complete ones', () => {
  const b = Buffer.from('ab数', 'utf8'); // 61 62 e6 95 b0
  assert.equal(utf8BoundaryBefore(b, 5), 5);
  assert.equal(utf8BoundaryBefore(b, 4), 2);
  assert.equal(utf8BoundaryBefore(b, 3), 2);
  assert.equal(utf8BoundaryBefore(b, 2), 2);
  assert.equal(utf8BoundaryBefore(Buffer.from([0x61, 0xff]), 2), 2);
});
