import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PrometheusWriter, escapeHelp, escapeLabelValue, formatValue } from './prometheus-text.js';

test('escapes backslash, double quote and line feed in label values, nothing else', () => {
  assert.equal(escapeLabelValue('plain-name_1.2'), 'plain-name_1.2');
  assert.equal(escapeLabelValue('a\\b'), 'a\\\\b');
  assert.equal(escapeLabelValue('say "hi"'), 'say \\"hi\\"');
  assert.equal(escapeLabelValue('two\nlines'), 'two\\nlines');
  assert.equal(escapeLabelValue('tab\there ünï'), 'tab\there ünï');
  assert.equal(escapeLabelValue('\\"\n'), '\\\\\\"\\n');
});

test('escapes backslash and line feed in HELP text but keeps quotes', () => {
  assert.equal(escapeHelp('a "b" \\ c\nd'), 'a "b" \\\\ c\\nd');
});

test('formats values as the Go parser reads them', () => {
  assert.equal(formatValue(0), '0');
  assert.equal(formatValue(123456789012), '123456789012');
  assert.equal(formatValue(0.25), '0.25');
  assert.equal(formatValue(NaN), 'NaN');
  assert.equal(formatValue(Infinity), '+Inf');
  assert.equal(formatValue(-Infinity), '-Inf');
});

test('writes HELP and TYPE before the samples of a family', () => {
  const text = new PrometheusWriter()
    .family('x_total', 'counter', 'Things.')
    .sample('x_total', 3, [
      ['comm', 'a"b'],
      ['container', ''],
    ])
    .single('y', 'gauge', 'A gauge.', 1.5)
    .text();
  assert.equal(
    text,
    '# HELP x_total Things.\n# TYPE x_total counter\nx_total{comm="a\\"b",container=""} 3\n' +
      '# HELP y A gauge.\n# TYPE y gauge\ny 1.5\n',
  );
});
