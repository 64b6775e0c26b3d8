import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { expandConfigFile } from './config-file.js';
import { parseCliArgs } from './options.js';

const dir = mkdtempSync(join(tmpdir(), 'pidflow-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(content: string): string {
  const path = join(dir, `c${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, content);
  return path;
}

test('--config turns a JSON object into options; the command line wins over it', () => {
  const path = file(
    JSON.stringify({
      listen: '127.0.0.1:9999',
      'history-db': 'memory',
      'max-series': 50,
      'include-loopback': true,
      'udp-events': false,
      devices: ['lo'],
    }),
  );
  const { argv, configFile } = expandConfigFile(['serve', '--config', path, '--max-series', '70']);
  assert.equal(configFile, path);
  const parsed = parseCliArgs(argv, '0');
  assert.ok(parsed.kind === 'run');
  assert.deepEqual(parsed.options.listen, { host: '127.0.0.1', port: 9999 });
  assert.equal(parsed.options.historyDb, 'memory');
  assert.equal(parsed.options.maxSeries, 70);
  assert.equal(parsed.options.includeLoopback, true);
  assert.equal(parsed.options.udpSendEvents, false);
  assert.deepEqual(parsed.options.devices, ['lo']);
});

test('a bad config file is refused with the key and the fix', () => {
  assert.throws(() => expandConfigFile(['serve', '--config', file('{"token": "x"}')]), {
    code: 'ERR_USAGE',
    message: /"token": put the token in its own file/,
  });
  assert.throws(() => expandConfigFile(['serve', '--config', file('{"lisen": "x"}')]), {
    message: /"lisen" is not an option of pidflow serve \(allowed: devices, listen/,
  });
  assert.throws(
    () => expandConfigFile(['serve', '--config', file('[1]')]),
    /must hold a JSON object/,
  );
  assert.throws(() => expandConfigFile(['serve', '--config', file('{')]), /is not valid JSON/);
  assert.throws(
    () => expandConfigFile(['serve', '--config', join(dir, 'none.json')]),
    /cannot read the config file/,
  );
});
