// The web page's routes on the agent: page files open and served with the security headers,
// the data endpoints behind the token, and /api/v1/top's bounds.

import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import {
  FakeMonitor,
  makeProcessEntry,
  makeProcessInfo,
  makeSnapshot,
} from '../../test/helpers/fake-monitor.js';
import { startServer, type RunningServer, type ServerOptions } from './server.js';
import { CONTENT_SECURITY_POLICY, WebAssets } from './web-assets.js';

const TOKEN = 'web-routes-test-token-0123456789';
let server: RunningServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(options: ServerOptions = {}): Promise<{ url: string; monitor: FakeMonitor }> {
  const monitor = new FakeMonitor();
  const processes = Array.from({ length: 150 }, (_, i) =>
    makeProcessEntry(makeProcessInfo(100 + i, `p${i}`), {
      sentBytes: 1000 + i,
      receivedBytes: 0,
      sentBytesPerSecond: 10 + i,
      receivedBytesPerSecond: 0,
    }),
  );
  monitor.tick(makeSnapshot({ processes }));
  server = await startServer(monitor, { host: '127.0.0.1', port: 0, history: false, ...options });
  return { url: server.url, monitor };
}

test('the page files are served without a token, with a strict CSP and nosniff', async () => {
  const { url } = await serve({ token: TOKEN });
  for (const [path, type] of [
    ['/', /^text\/html/],
    ['/app.js', /^text\/javascript/],
    ['/app.css', /^text\/css/],
    ['/favicon.svg', /^image\/svg\+xml/],
  ] as const) {
    const res = await fetch(`${url}${path}`);
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get('content-type') ?? '', type, path);
    assert.equal(res.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.ok((await res.arrayBuffer()).byteLength > 0);
  }
  const html = await (await fetch(`${url}/`)).text();
  assert.match(html, /<script src="\/app\.js" defer><\/script>/);
  assert.doesNotMatch(html, /<script>|\sstyle=|\son[a-z]+=/i, 'no inline script, style or handler');
  assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe/);
});

test('data endpoints need the token; JSON answers carry the same headers', async () => {
  const { url } = await serve({ token: TOKEN });
  for (const path of ['/api/v1', '/api/v1/top', '/api/v1/stats', '/metrics']) {
    const res = await fetch(`${url}${path}`);
    assert.equal(res.status, 401, path);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  }
  const res = await fetch(`${url}/api/v1/top`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
  const post = await fetch(`${url}/`, { method: 'POST' });
  assert.equal(post.status, 405, 'the page files take GET only');
});

test('/api/v1/top is bounded: limit rows plus "other", 400 for bad parameters', async () => {
  const { url } = await serve();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const body = (await (await fetch(`${url}/api/v1/top?limit=100`)).json()) as any;
  assert.equal(body.entries.length, 100);
  assert.equal(body.other.count, 50);
  assert.equal(body.matched, 150);
  assert.equal(body.entries[0].name, 'p149', 'highest rate first');
  for (const query of [
    'limit=0',
    'limit=101',
    'groupBy=pods',
    'sort=pid',
    'window=0',
    `filter=${'x'.repeat(257)}`,
    'bogus=1',
  ]) {
    const res = await fetch(`${url}/api/v1/top?${query}`);
    assert.equal(res.status, 400, query);
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const filtered = (await (await fetch(`${url}/api/v1/top?filter=P14`)).json()) as any;
  assert.deepEqual(
    filtered.entries.map((e: { name: string }) => e.name),
    ['p149', 'p148', 'p147', 'p146', 'p145', 'p144', 'p143', 'p142', 'p141', 'p140', 'p14'],
  );
});

test('a missing page build is a message that says how to build it', () => {
  const assets = new WebAssets('/nonexistent/pidflow-web');
  const answer = assets.get('/');
  assert.equal(typeof answer, 'string');
  assert.match(answer as string, /the web page is not built .*run `npm run build`/);
  assert.equal(WebAssets.isWebPath('/app.js'), true);
  assert.equal(WebAssets.isWebPath('/../package.json'), false);
});
