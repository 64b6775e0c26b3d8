// Time as an input: account, monitor and tui take a Clock so that tests advance a fake one.

/** A cancellable timer handle. */
export interface TimerHandle {
  cancel(): void;
}

/** Source of time and timers. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Monotonic milliseconds (for durations). */
  monotonicMs(): number;
  /** Call `fn` once after `delayMs`. */
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
  /** Call `fn` every `intervalMs`. */
  setInterval(fn: () => void, intervalMs: number): TimerHandle;
}

/** The real clock; timers are unref'd so a forgotten monitor never keeps Node alive by itself. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonicMs: () => performance.now(),
  setTimeout(fn, delayMs) {
    const t = setTimeout(fn, delayMs);
    return { cancel: () => clearTimeout(t) };
  },
  setInterval(fn, intervalMs) {
    const t = setInterval(fn, intervalMs);
    return { cancel: () => clearInterval(t) };
  },
};

/** A clock that only moves when told to; timers fire in order during advance(). */
export class FakeClock implements Clock {
  private nowMs: number;
  private monoMs = 0;
  private seq = 0;
  private timers = new Map<number, { at: number; every: number; fn: () => void }>();

  constructor(startMs = 1_700_000_000_000) {
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  monotonicMs(): number {
    return this.monoMs;
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    return this.add(fn, delayMs, 0);
  }

  setInterval(fn: () => void, intervalMs: number): TimerHandle {
    return this.add(fn, intervalMs, Math.max(1, intervalMs));
  }

  /** Move time forward by `ms`, firing due timers in time order. */
  advance(ms: number): void {
    const end = this.monoMs + ms;
    for (;;) {
      let nextId = -1;
      let nextAt = Infinity;
      for (const [id, t] of this.timers) {
        if (t.at <= end && t.at < nextAt) {
          nextAt = t.at;
          nextId = id;
        }
      }
      if (nextId < 0) break;
      const timer = this.timers.get(nextId)!;
      this.nowMs += nextAt - this.monoMs;
      this.monoMs = nextAt;
      if (timer.every > 0) timer.at += timer.every;
      else this.timers.delete(nextId);
      timer.fn();
    }
    this.nowMs += end - this.monoMs;
    this.monoMs = end;
  }

  /** Number of pending timers (for tests that check cleanup). */
  get pendingTimers(): number {
    return this.timers.size;
  }

  private add(fn: () => void, delayMs: number, every: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { at: this.monoMs + Math.max(0, delayMs), every, fn });
    return { cancel: () => void this.timers.delete(id) };
  }
}
