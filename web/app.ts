// The pidflow web page: a hash router over four views, a 1 s refresh of the visible one, and
// the token form. Bundled with uPlot by scripts/build-web.mjs into dist/web/app.js and app.css.

import 'uplot/dist/uPlot.min.css';
import './style.css';
import { NeedsToken, storeToken } from './api.js';
import { formatTime, setText } from './dom.js';
import { showHealth } from './health.js';
import { showHistory } from './history.js';
import { showNow } from './now.js';
import { showProcess } from './process.js';

const REFRESH_MS = 1000;

const main = document.getElementById('main')!;
const status = document.getElementById('status')!;
const form = document.getElementById('token-form') as HTMLFormElement;
const input = document.getElementById('token-input') as HTMLInputElement;
const tokenError = document.getElementById('token-error')!;
const clock = document.getElementById('clock')!;

let refresh: (() => Promise<void>) | undefined;
/** Views refreshed every second; History and a process's chart load once per visit. */
let isLive = false;
let needsToken = false;

function showStatus(text: string | undefined): void {
  status.hidden = text === undefined;
  setText(status, text ?? '');
}

/** The refresh in flight: a slow answer is never overtaken by the next tick's request. */
let running: Promise<void> | undefined;

function run(): Promise<void> {
  running ??= runOnce().finally(() => (running = undefined));
  return running;
}

async function runOnce(): Promise<void> {
  if (refresh === undefined || needsToken) return;
  try {
    await refresh();
    showStatus(undefined);
  } catch (error) {
    if (error instanceof NeedsToken) {
      needsToken = true;
      form.hidden = false;
      main.hidden = true;
      setText(tokenError, error.wasWrong ? 'The token was refused; try again.' : '');
      input.focus();
      return;
    }
    showStatus(`Cannot reach the agent: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function route(): void {
  const hash = location.hash.replace(/^#/, '') || 'now';
  const [view, arg] = hash.split('/');
  for (const a of document.querySelectorAll('nav a')) {
    a.classList.toggle('active', a.getAttribute('data-view') === view);
  }
  if (view === 'history') {
    refresh = showHistory(main);
    isLive = false;
  } else if (view === 'health') {
    refresh = showHealth(main);
    isLive = true;
  } else if (view === 'process' && /^\d{1,7}$/.test(arg ?? '')) {
    refresh = showProcess(main, Number(arg));
    isLive = true;
  } else {
    refresh = showNow(main);
    isLive = true;
  }
  void run();
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  storeToken(input.value);
  input.value = '';
  needsToken = false;
  form.hidden = true;
  main.hidden = false;
  route();
});
window.addEventListener('hashchange', route);
setInterval(() => {
  setText(clock, formatTime(Date.now()));
  if (isLive && document.visibilityState === 'visible') void run();
}, REFRESH_MS);
setText(clock, formatTime(Date.now()));
route();
