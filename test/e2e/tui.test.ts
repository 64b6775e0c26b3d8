// The real terminal UI driven in tmux (root): `pidflow --include-loopback lo --interval 500`
// runs in a private tmux server while two known child processes send UDP on 127.0.0.1; the
// test reads the screen with capture-pane and presses keys with send-keys.

import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { packageRootDir } from '../golden/assert-golden.js';

const ROOT = packageRootDir();
const SOCKET = `pftui-${process.pid}`;
const TEST_TIMEOUT_MS = 90_000;

function hasTmux(): boolean {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const SKIP =
  process.getuid?.() !== 0
    ? '[needs-root] needs root to capture on lo (CI runs as root)'
    : !hasTmux()
      ? '[needs-tmux] needs tmux (apt-get install tmux)'
      : !existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'))
        ? '[needs-build] needs the compiled CLI: run `npx tsc -p tsconfig.json` first'
        : false;

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8', timeout: 5000 });
}

const screen = (): string => tmux('capture-pane', '-p', '-t', 'main');
const keys = (...k: string[]): void => void tmux('send-keys', '-t', 'main', ...k);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls the pane until `predicate` holds (at most `timeoutMs`), returning the screen. */
async function waitScreen(
  what: string,
  predicate: (s: string) => boolean,
  timeoutMs = 8000,
): Promise<string> {
  const end = Date.now() + timeoutMs;
  let s = '';
  while (Date.now() < end) {
    s = screen();
    if (predicate(s)) return s;
    await sleep(150);
  }
  assert.fail(`timed out waiting for ${what}; screen:\n${s}`);
}

/** Line index of the first line containing `text`, -1 if none. */
const lineOf = (s: string, text: string): number =>
  s.split('\n').findIndex((l) => l.includes(text));

/** A bounded UDP sender: `rate` datagrams/s of `size` bytes, for at most `lifeMs`. */
const SENDER = `
process.title = process.env.PFTUI_TITLE;
const s = require('node:dgram').createSocket('udp4');
const size = Number(process.env.PFTUI_SIZE), port = Number(process.env.PFTUI_PORT);
const max = Number(process.env.PFTUI_MAX);
let sent = 0;
s.on('message', () => {});
s.bind(0, '127.0.0.1', () => {
  process.stdout.write('ready\\n');
  const t = setInterval(() => {
    if (sent++ >= max) return clearInterval(t);
    s.send(Buffer.alloc(size, process.env.PFTUI_FILL.charCodeAt(0)), port, '127.0.0.1');
  }, 1000 / Number(process.env.PFTUI_RATE));
});
setTimeout(() => process.exit(0), Number(process.env.PFTUI_LIFE_MS));
`;

test(
  'the terminal UI shows known processes, sorts, switches views, filters, helps and quits cleanly',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async () => {
    const receiver = createSocket('udp4');
    const children: ChildProcess[] = [];
    let tmuxStarted = false;
    try {
      // pftui-a sends 4000 B/s and receives nothing; pftui-b sends 1000 B/s and gets 8000 B/s back.
      receiver.on('message', (msg, rinfo) => {
        if (msg[0] === 0x62) receiver.send(Buffer.alloc(4000, 0x72), rinfo.port, rinfo.address);
      });
      await new Promise<void>((r) => receiver.bind(0, '127.0.0.1', r));
      const start = (title: string, fill: string, size: number, rate: number) => {
        const child = spawn(process.execPath, ['-e', SENDER], {
          stdio: ['ignore', 'pipe', 'ignore'],
          env: {
            ...process.env,
            PFTUI_TITLE: title,
            PFTUI_FILL: fill,
            PFTUI_SIZE: String(size),
            PFTUI_RATE: String(rate),
            PFTUI_MAX: String(rate * 80),
            PFTUI_PORT: String(receiver.address().port),
            PFTUI_LIFE_MS: String(TEST_TIMEOUT_MS),
          },
        });
        children.push(child);
        return child;
      };
      const a = start('pftui-a', 'a', 500, 8);
      const b = start('pftui-b', 'b', 500, 2);
      // pidflow starts only once both senders carry their names: it reads a process's name
      // once per pid and start time, and a sender caught between fork and its rename (comm
      // still 'node') would keep that name on screen.
      for (const [child, title] of [
        [a, 'pftui-a'],
        [b, 'pftui-b'],
      ] as const) {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`${title} did not start`)), 10_000);
          child.stdout!.once('data', () => {
            clearTimeout(timer);
            resolve();
          });
        });
        assert.equal(readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim(), title);
      }

      tmux('new-session', '-d', '-s', 'main', '-x', '120', '-y', '30', 'bash --norc --noprofile');
      tmuxStarted = true;
      keys(
        `cd ${JSON.stringify(ROOT)} && PS1='pftui$ ' && node bin/pidflow.js --include-loopback lo --interval 500; echo PFTUI-EXITED-$?`,
        'Enter',
      );

      let s = await waitScreen(
        'both senders on screen',
        (x) => x.includes('pftui-a') && x.includes('pftui-b'),
        20_000,
      );
      assert.equal(
        tmux('display', '-p', '-t', 'main', '#{alternate_on}').trim(),
        '1',
        'in the alternate screen',
      );
      assert.match(s, /pidflow \S+ │ lo │ up \d+:\d\d · stops in 4:\d\d/);
      assert.match(s, /sent .*received .*packets .*drops kernel \d+ queue \d+ +unknown/);
      assert.match(s.split('\n')[lineOf(s, 'pftui-a')]!, new RegExp(`^.\\s*${a.pid} `));
      assert.match(s.split('\n')[lineOf(s, 'pftui-b')]!, new RegExp(`^.\\s*${b.pid} `));
      assert.ok(
        lineOf(s, '(unknown traffic)') > lineOf(s, 'pftui-a'),
        'unknown traffic is a row, last',
      );

      // Sorting: by sent, pftui-a (4000 B/s) leads; by received, pftui-b (8000 B/s) leads.
      keys('s');
      s = await waitScreen(
        'sort by sent',
        (x) =>
          x.includes('sort sent↓') &&
          lineOf(x, 'pftui-a') < lineOf(x, 'pftui-b') &&
          lineOf(x, 'pftui-a') > 0,
      );
      keys('r');
      s = await waitScreen(
        'sort by received',
        (x) =>
          x.includes('sort received↓') &&
          lineOf(x, 'pftui-b') < lineOf(x, 'pftui-a') &&
          lineOf(x, 'pftui-b') > 0,
      );

      // Views: the table header changes.
      keys('2');
      s = await waitScreen(
        'connections view',
        (x) => /PROTO +(LOCAL +)?REMOTE/.test(x) && x.includes('[2 Connections]'),
      );
      assert.match(s, /udp +127\.0\.0\.1:\d+/);
      keys('3');
      await waitScreen(
        'remote hosts view',
        (x) => /REMOTE HOST +PROCS/.test(x) && x.includes('127.0.0.1'),
      );
      keys('4');
      await waitScreen(
        'containers view',
        (x) => /CONTAINER +RUNTIME +PROCS/.test(x) && x.includes('(host)'),
      );
      keys('1');
      await waitScreen('processes view', (x) => /PID +USER +PROGRAM/.test(x));

      // The typed filter keeps only matching rows.
      keys('/', 'pftui-b', 'Enter');
      s = await waitScreen(
        'filter pftui-b',
        (x) => x.includes('filter "pftui-b"') && x.includes('pftui-b') && !x.includes('pftui-a'),
      );

      // Enter on the (only) process shows its connections; Esc goes back, Backspace clears the filter.
      keys('Enter');
      s = await waitScreen(
        'connections of pftui-b',
        (x) => x.includes(`Connections of ${b.pid} pftui-b`) && /udp +127\.0\.0\.1:\d+/.test(x),
      );
      keys('Escape');
      await waitScreen(
        'back to processes',
        (x) => !x.includes('Connections of') && /PID +USER +PROGRAM/.test(x),
      );
      keys('BSpace');
      await waitScreen('filter cleared', (x) => x.includes('pftui-a') && x.includes('pftui-b'));

      // Space pauses the display (the header says so), units and measure toggle.
      keys('Space');
      s = await waitScreen('paused', (x) => x.includes('PAUSED'));
      keys('Space', 'u', 'm');
      await waitScreen('units and totals', (x) => !x.includes('PAUSED') && /totals · B\b/.test(x));
      keys('u', 'u', 'u', 'u', 'm');
      await waitScreen('auto units again', (x) => /rates\/\d+s · auto/.test(x));

      // Help lists the keys; any key closes it.
      keys('?');
      s = await waitScreen(
        'help',
        (x) => x.includes('Keys') && x.includes('pause the display') && x.includes('q Ctrl-C'),
      );
      keys('x');
      s = await waitScreen(
        'help closed',
        (x) => !x.includes('Press any key to close') && x.includes('pftui-a'),
      );

      // A terminal too small says so; growing it again brings the table back.
      tmux('resize-window', '-t', 'main', '-x', '30', '-y', '6');
      await waitScreen('too small', (x) => x.includes('Terminal too small (30x6)'));
      tmux('resize-window', '-t', 'main', '-x', '120', '-y', '30');
      await waitScreen('resized back', (x) => x.includes('pftui-a') && !x.includes('too small'));

      if (process.env['UPDATE_GOLDEN'] === '1' || process.env['PFTUI_SAVE_SCREEN'] === '1') {
        // The README's screen: sorted by sent, after a few seconds of sparkline history.
        keys('s');
        const shot = await waitScreen(
          'screenshot',
          (x) =>
            x.includes('sort sent↓') && x.includes('pftui-a') && /up 0:(0[89]|[1-5]\d)/.test(x),
          20_000,
        );
        const trimmed = shot.replace(/\s+$/, '').replace(/\n(\s*\n)+/g, '\n\n');
        writeFileSync(join(ROOT, 'docs', 'screen.txt'), trimmed + '\n');
      }

      // q leaves the alternate screen and gives the shell back.
      keys('q');
      s = await waitScreen('shell again', (x) => x.includes('PFTUI-EXITED-0'), 10_000);
      assert.equal(
        tmux('display', '-p', '-t', 'main', '#{alternate_on}').trim(),
        '0',
        'alternate screen left',
      );
      assert.ok(!s.includes('pftui-a'), 'the UI is gone from the pane');
    } finally {
      if (tmuxStarted) {
        try {
          tmux('kill-server');
        } catch {
          // Already gone.
        }
      }
      for (const c of children) if (c.exitCode === null && c.pid !== undefined) c.kill('SIGKILL');
      receiver.close();
    }
  },
);
