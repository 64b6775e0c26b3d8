// The agent's web page in a real browser (Debian's chromium through playwright-core, never a
// downloaded one): the real `pidflow serve` on lo with known UDP senders, the page shows the
// right process at the rate the sender reports, the history chart has points and a click on
// it opens the process, a process named with HTML and script markup shows as text and runs
// nothing, and with a token the page asks for it. PIDFLOW_SCREENSHOTS=1 also writes
// docs/web-*.png (npm run screenshots).

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { packageRootDir } from '../golden/assert-golden.js';
import { needsRoot, skipReason } from '../helpers/skip-reasons.js';
import {
  chromiumPath,
  hasPython,
  startAgent,
  startSender,
  startSink,
  UDP_HEADER_BYTES,
} from '../helpers/web-agent.js';

const ROOT = packageRootDir();
const CHROMIUM = chromiumPath();
const SKIP =
  needsRoot('capture on lo') ||
  (!existsSync(join(ROOT, 'dist', 'web', 'app.js'))
    ? skipReason('needs-build', 'the web page is not built: run `npm run build`')
    : CHROMIUM === undefined
      ? skipReason('needs-tools', 'chromium is not installed: run scripts/setup-test.sh')
      : !hasPython()
        ? skipReason('needs-tools', 'python3 is not installed: run scripts/setup-test.sh')
        : false);
const SCREENSHOTS = process.env.PIDFLOW_SCREENSHOTS === '1';

const TAG = String(process.pid % 100000).padStart(5, '0');
/** The steady sender: 1000-byte datagrams every 10 ms = 102,800 IP bytes/s (100.4 KiB/s). */
const STEADY_COMM = `pfweb${TAG}`;
const STEADY_PAYLOAD = 1000;
const STEADY_PERIOD_S = 0.01;
/** The hostile name: markup in comm (15 bytes) and in the command line. */
const HOSTILE_COMM = `<i>pfx${TAG}</i>`;
const HOSTILE_ARGS = [
  '<img src=x onerror="window.__pwned=1;alert(1)">',
  '<script>window.__pwned=2</script>',
];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** '100 KiB/s' -> bytes per second. */
function parseRate(text: string): number {
  const m = /^([\d.]+) (B|KiB|MiB|GiB)\/s$/.exec(text.trim());
  assert.ok(m, `a rate, got '${text}'`);
  const unit = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[m[2] as 'B'];
  return Number(m[1]) * unit;
}

async function openBrowser(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM!,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu'],
  });
}

/** A page that records CSP violations and dialogs (a dialog would mean markup ran). */
async function newPage(
  browser: Browser,
  width = 1280,
  height = 860,
): Promise<{ page: Page; dialogs: string[]; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width, height }, timezoneId: 'UTC' });
  const page = await context.newPage();
  const dialogs: string[] = [];
  const errors: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('pageerror', (e) => errors.push(e.message));
  // A string: the test's TypeScript has no DOM types. Runs before the page's own script.
  await page.addInitScript({
    content: `window.__csp = [];
      document.addEventListener('securitypolicyviolation', (e) =>
        window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));`,
  });
  return { page, dialogs, errors };
}

test(
  'the web page shows the right process at the sender rate, charts history, opens a process, and shows markup as text',
  { skip: SKIP, timeout: SCREENSHOTS ? 240_000 : 120_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pidflow-web-'));
    const sink = await startSink();
    const seconds = SCREENSHOTS ? 150 : 60;
    const steady = await startSender({
      comm: STEADY_COMM,
      argv: ['--steady', 'traffic'],
      port: sink.port,
      payloadBytes: STEADY_PAYLOAD,
      periodSeconds: STEADY_PERIOD_S,
      seconds,
    });
    const hostile = await startSender({
      comm: HOSTILE_COMM,
      argv: HOSTILE_ARGS,
      port: sink.port,
      payloadBytes: 300,
      periodSeconds: 0.02,
      seconds,
    });
    const extra = SCREENSHOTS
      ? await Promise.all(
          ['backup-agent', 'metrics-push', 'api-server'].map((comm, i) =>
            startSender({
              comm,
              argv: [`--job=${comm}`],
              port: sink.port,
              payloadBytes: 400 + 300 * i,
              periodSeconds: 0.02 + 0.01 * i,
              seconds,
            }),
          ),
        )
      : [];
    const agent = await startAgent([
      '--history-db',
      join(dir, 'history.db'),
      '--history-interval',
      '1',
    ]);
    let browser: Browser | undefined;
    try {
      for (const s of [steady, hostile, ...extra]) s.go();
      browser = await openBrowser();
      const { page, dialogs, errors } = await newPage(browser);
      const response = await page.goto(agent.url);
      assert.equal(response?.status(), 200);
      const headers = response!.headers();
      assert.match(headers['content-security-policy'] ?? '', /default-src 'self'/);
      assert.match(headers['content-security-policy'] ?? '', /frame-ancestors 'none'/);
      assert.doesNotMatch(headers['content-security-policy'] ?? '', /unsafe/);
      assert.equal(headers['x-content-type-options'], 'nosniff');
      assert.equal(headers['referrer-policy'], 'no-referrer');

      // Now: the steady sender's row, once its 5 s window is full of steady traffic.
      const steadyLink = page.locator(`#now-table a[data-pid="${steady.pid}"]`);
      await steadyLink.waitFor({ timeout: 20_000 });
      assert.equal(await steadyLink.textContent(), STEADY_COMM);
      await sleep(SCREENSHOTS ? 60_000 : 8000);
      const row = page.locator(`#now-table tr:has(a[data-pid="${steady.pid}"])`);
      const shown = parseRate((await row.locator('td.sent').textContent()) ?? '');
      const now = Date.now();
      const truth = steady.bytesBetween(now - 7000, now - 1000) / 6;
      const nominal = (STEADY_PAYLOAD + UDP_HEADER_BYTES) / STEADY_PERIOD_S;
      assert.ok(
        Math.abs(truth - nominal) / nominal < 0.1,
        `the sender kept its rate (${truth} vs ${nominal} B/s)`,
      );
      assert.ok(
        Math.abs(shown - truth) / truth < 0.1,
        `page shows ${shown} B/s sent for ${STEADY_COMM}, the sender sent ${truth} B/s`,
      );

      // The hostile name is text: same characters, no element made from it, nothing ran.
      const hostileLink = page.locator(`#now-table a[data-pid="${hostile.pid}"]`);
      await hostileLink.waitFor({ timeout: 10_000 });
      assert.equal(await hostileLink.textContent(), HOSTILE_COMM);
      assert.equal(
        await page.locator('#now-table i, #now-table img, #now-table script').count(),
        0,
      );
      if (SCREENSHOTS) await page.screenshot({ path: join(ROOT, 'docs', 'web-now.png') });

      // Sort by name (a click on the header) and filter (the agent applies both).
      const names = (): Promise<string[]> =>
        page.locator('#now-table tbody tr[data-key] td.name').allTextContents();
      await page.click('#now-table th[data-sort="name"]');
      let sorted: string[] = [];
      for (let i = 0; i < 50; i++) {
        sorted = await names();
        if (sorted.length > 1 && sorted.every((n, k) => k === 0 || sorted[k - 1]! <= n)) break;
        await sleep(100);
      }
      assert.ok(
        sorted.every((n, k) => k === 0 || sorted[k - 1]! <= n),
        `sorted by name: ${sorted.join(', ')}`,
      );
      await page.fill('#now-filter', STEADY_COMM.toUpperCase());
      let filtered: string[] = [];
      for (let i = 0; i < 50; i++) {
        filtered = await names();
        if (filtered.length === 1) break;
        await sleep(100);
      }
      assert.deepEqual(filtered, [STEADY_COMM], 'the filter keeps the matching process only');
      await page.fill('#now-filter', '');
      await page.click('#now-table th[data-sort="total"]');

      // History: the chart has points (hovering shows the sender's rate) and a click on its
      // band opens the process view.
      await page.goto(`${agent.url}/#history`);
      const chart = page.locator('#history-chart .u-over');
      await chart.waitFor({ timeout: 10_000 });
      await page.locator('#history-legend li', { hasText: STEADY_COMM }).waitFor();
      const box = (await chart.boundingBox())!;
      const legendValue = page
        .locator('.u-legend .u-series', { hasText: `${STEADY_COMM} (${steady.pid})` })
        .locator('.u-value');
      let hovered = 0;
      let x = box.x + box.width - 1;
      const near = (v: number): boolean => Math.abs(v - nominal) / nominal < 0.15;
      // The newest steps may be partial (traffic started mid-step): move left to a full one.
      for (; x > box.x + box.width - 150 && !near(hovered); x -= 2) {
        await page.mouse.move(x, box.y + box.height - 3);
        const text = (await legendValue.textContent()) ?? '–';
        hovered = text === '–' ? 0 : parseRate(text);
      }
      assert.ok(
        near(hovered),
        `hovering the chart shows ${STEADY_COMM} at ${hovered} B/s (sent ${nominal} B/s)`,
      );
      if (SCREENSHOTS) await page.screenshot({ path: join(ROOT, 'docs', 'web-history.png') });
      // Up the chart at that time until the pointer is on the sender's band, then click.
      const hover = page.locator('#history-hover');
      let y = box.y + box.height - 2;
      for (; y > box.y; y -= 3) {
        await page.mouse.move(x + 2, y);
        if (((await hover.textContent()) ?? '').startsWith(`${STEADY_COMM} (`)) break;
      }
      assert.ok(y > box.y, `the pointer found the band of ${STEADY_COMM}`);
      // Click on the band (a few tries: the pointer is re-checked on the band before each).
      let opened = false;
      for (let attempt = 0; attempt < 3 && !opened; attempt++) {
        await page.mouse.move(x + 2, y - 2 * attempt);
        if (!((await hover.textContent()) ?? '').startsWith(`${STEADY_COMM} (`)) continue;
        await page.mouse.click(x + 2, y - 2 * attempt);
        for (let i = 0; i < 30 && !opened; i++) {
          opened = page.url().endsWith(`#process/${steady.pid}`);
          if (!opened) await sleep(100);
        }
      }
      assert.ok(opened, `a click on the band opens the process view (at ${page.url()})`);
      await page.locator('#process-title', { hasText: STEADY_COMM }).waitFor({ timeout: 10_000 });
      assert.match(
        (await page.locator('#process-details').textContent()) ?? '',
        /--steady traffic/,
      );

      // A click in the Now table opens a process too: the hostile one, whose command line is text.
      await page.goto(`${agent.url}/#now`);
      await page.locator(`#now-table a[data-pid="${hostile.pid}"]`).click();
      await page.locator('#process-title', { hasText: HOSTILE_COMM }).waitFor({ timeout: 10_000 });
      const details = (await page.locator('#process-details').textContent()) ?? '';
      for (const arg of HOSTILE_ARGS) assert.ok(details.includes(arg), `cmdline shown: ${arg}`);
      assert.equal(
        await page.locator('#process-details img, #process-details script, main i').count(),
        0,
      );
      await page.locator('#process-connections tbody tr').first().waitFor({ timeout: 10_000 });
      assert.match((await page.locator('#process-remotes').textContent()) ?? '', /127\.0\.0\.1/);
      await page.locator('#process-chart .u-over').waitFor({ timeout: 10_000 });
      if (SCREENSHOTS) {
        await page.goto(`${agent.url}/#process/${steady.pid}`);
        await page.locator('#process-chart .u-over').waitFor({ timeout: 10_000 });
        await page.locator('#process-connections tbody tr').first().waitFor();
        await sleep(1500);
        await page.screenshot({ path: join(ROOT, 'docs', 'web-process.png'), fullPage: true });
      }

      // Health: the capture device and the loss counters.
      await page.goto(`${agent.url}/#health`);
      await page.locator('#health-kernel-drops').waitFor({ timeout: 10_000 });
      await page.locator('#health-devices tbody td').first().waitFor({ timeout: 10_000 });
      assert.deepEqual(
        await page.locator('#health-devices tbody td:first-child').allTextContents(),
        ['lo'],
      );
      if (SCREENSHOTS) await page.screenshot({ path: join(ROOT, 'docs', 'web-health.png') });

      // A phone-width view still shows the table and the rates.
      const phone = await newPage(browser, 390, 800);
      await phone.page.goto(agent.url);
      await phone.page
        .locator(`#now-table a[data-pid="${steady.pid}"]`)
        .waitFor({ timeout: 10_000 });
      const scrollWidth = await phone.page.evaluate<number>('document.documentElement.scrollWidth');
      assert.ok(scrollWidth <= 390, `no sideways scrolling on a phone (${scrollWidth} px)`);

      const state = await page.evaluate<{ pwned: unknown; csp: string[] }>(
        '({ pwned: window.__pwned, csp: window.__csp })',
      );
      assert.equal(state.pwned, undefined, 'no markup ran');
      assert.deepEqual(dialogs, [], 'no dialog opened');
      assert.deepEqual(state.csp, [], 'no Content-Security-Policy violation');
      assert.deepEqual(errors, [], 'no script error on the page');
    } finally {
      await browser?.close();
      for (const s of [steady, hostile, ...extra]) s.stop();
      sink.socket.close();
      const code = await agent.stop();
      rmSync(dir, { recursive: true, force: true });
      assert.equal(code, 0, `agent exit code; stderr:\n${agent.stderr()}`);
    }
  },
);

test(
  'with a token configured, the page asks for it, then shows data; the API refuses requests without it',
  { skip: SKIP, timeout: 60_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pidflow-web-token-'));
    const token = `t0k3n-${TAG}-abcdefghijklmnopqrstuvwx`;
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    const sink = await startSink();
    const steady = await startSender({
      comm: STEADY_COMM,
      argv: ['--steady', 'traffic'],
      port: sink.port,
      payloadBytes: STEADY_PAYLOAD,
      periodSeconds: STEADY_PERIOD_S,
      seconds: 30,
    });
    const agent = await startAgent(['--history-db', 'memory', '--token-file', tokenFile]);
    let browser: Browser | undefined;
    try {
      steady.go();
      // The API needs the token; the page's files do not (they hold no data).
      for (const path of [
        '/api/v1/top',
        '/api/v1/stats',
        '/api/v1/history',
        '/api/v1',
        '/metrics',
      ]) {
        assert.equal((await fetch(`${agent.url}${path}`)).status, 401, path);
      }
      for (const path of ['/', '/app.js', '/app.css', '/favicon.svg']) {
        assert.equal((await fetch(`${agent.url}${path}`)).status, 200, path);
      }
      // Nothing changes state: other methods are refused (405) before anything runs.
      const post = await fetch(`${agent.url}/api/v1/top`, { method: 'POST' });
      assert.equal(post.status, 405, 'a POST is refused');
      const authorized = await fetch(`${agent.url}/api/v1/top`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      assert.equal(authorized.status, 200);

      browser = await openBrowser();
      const { page, errors } = await newPage(browser);
      await page.goto(agent.url);
      const form = page.locator('#token-form');
      await form.waitFor({ state: 'visible', timeout: 10_000 });
      assert.equal(
        await page.locator('#now-table tbody tr').count(),
        0,
        'no data before the token',
      );
      await page.fill('#token-input', 'wrong-token-0123456789');
      await page.click('#token-form button');
      await page.locator('#token-error', { hasText: 'refused' }).waitFor({ timeout: 10_000 });
      await page.fill('#token-input', token);
      await page.click('#token-form button');
      await page.locator(`#now-table a[data-pid="${steady.pid}"]`).waitFor({ timeout: 15_000 });
      assert.equal(await form.isVisible(), false);
      // Kept for the tab: a reload does not ask again.
      await page.reload();
      await page.locator(`#now-table a[data-pid="${steady.pid}"]`).waitFor({ timeout: 15_000 });
      assert.equal(await form.isVisible(), false);
      assert.deepEqual(errors, []);
    } finally {
      await browser?.close();
      steady.stop();
      sink.socket.close();
      const code = await agent.stop();
      rmSync(dir, { recursive: true, force: true });
      assert.equal(code, 0, `agent exit code; stderr:\n${agent.stderr()}`);
    }
  },
);
