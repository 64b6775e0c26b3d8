// CPU load for tests and benchmarks that must hold on a busy host: `stress-ng --cpu N` when it
// is installed (scripts/setup-test.sh installs it), else N busy-looping node children. Every
// loader is bounded in time and killed by its pid.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

/** A running load; stop() kills the processes it started (by pid) and waits for them. */
export interface CpuLoad {
  /** `stress-ng` or `node`. */
  readonly tool: string;
  readonly pids: readonly number[];
  stop(): Promise<void>;
}

/** Whether `stress-ng` is on PATH. */
export function hasStressNg(): boolean {
  return spawnSync('sh', ['-c', 'command -v stress-ng'], { stdio: 'ignore' }).status === 0;
}

/**
 * Keep `workers` CPUs busy for at most `limitMs` (the loaders end on their own after it).
 * @example
 * const load = startCpuLoad(2, 60_000);
 * try { ... } finally { await load.stop(); }
 */
export function startCpuLoad(workers: number, limitMs: number): CpuLoad {
  const seconds = Math.max(1, Math.ceil(limitMs / 1000));
  const children: ChildProcess[] = [];
  let tool: string;
  if (hasStressNg()) {
    tool = 'stress-ng';
    children.push(
      spawn('stress-ng', ['--cpu', String(workers), '--timeout', `${seconds}s`, '--quiet'], {
        stdio: 'ignore',
      }),
    );
  } else {
    tool = 'node';
    const loop = `const end = Date.now() + ${seconds * 1000}; while (Date.now() < end);`;
    for (let i = 0; i < workers; i++) {
      children.push(spawn(process.execPath, ['-e', loop], { stdio: 'ignore' }));
    }
  }
  const pids = children.map((c) => c.pid).filter((p): p is number => p !== undefined);
  return {
    tool,
    pids,
    async stop(): Promise<void> {
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              const timer = setTimeout(resolve, 5000);
              child.once('exit', () => {
                clearTimeout(timer);
                resolve();
              });
              if (child.pid !== undefined) {
                try {
                  // stress-ng's workers are its children: SIGTERM lets it stop them itself.
                  process.kill(child.pid, 'SIGTERM');
                } catch {
                  resolve();
                }
              }
            }),
        ),
      );
    },
  };
}
