// A small routed/NATed test topology: a "container" namespace and a "server" namespace, each
// joined to the root namespace by a veth pair (two test nets, 198.18.0.0/15 only), routed
// through the root namespace, optionally with MASQUERADE towards the server and a DNAT'd
// published port. Every iptables rule is added with a comment naming the run and removed
// exactly (iptables -D with the same arguments); ip_forward is restored to what it was.

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createTestNet } from './netns.js';
import type { TestNet } from './netns.js';

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

/** Options of {@link createNatNet}. */
export interface NatNetOptions {
  /** MASQUERADE what the container sends to the server net. @default true */
  masquerade?: boolean;
  /** Publish container port `to` as `from` on the root side of the server link (DNAT). */
  publish?: { from: number; to: number };
}

/** The topology: `container.b` is the container, `server.b` the server, both routed via root. */
export interface NatNet {
  /** Root side `container.a.device` is the container's veth ("the bridge side"). */
  readonly container: TestNet;
  /** Root side `server.a.device` is the uplink towards the server. */
  readonly server: TestNet;
  /** Address the server sees the container's traffic from (root side when NATed). */
  readonly containerSeenAs: string;
  /** Remove rules and routes, destroy both nets, restore ip_forward. Idempotent. */
  destroy(): Promise<void>;
}

function iptables(args: readonly string[]): void {
  execFileSync('iptables', ['-w', '5', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** True when iptables (legacy or nft) can be run here. */
export function hasIptables(): boolean {
  try {
    execFileSync('iptables', ['-w', '5', '-S', 'FORWARD'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Build the topology; on failure everything made so far is removed. */
export async function createNatNet(options: NatNetOptions = {}): Promise<NatNet> {
  const masquerade = options.masquerade ?? true;
  const rules: string[][] = [];
  const forwardBefore = readFileSync(IP_FORWARD, 'utf8').trim();
  let container: TestNet | undefined;
  let server: TestNet | undefined;
  let isDestroyed = false;
  const destroy = async (): Promise<void> => {
    if (isDestroyed) return;
    isDestroyed = true;
    for (const rule of rules.reverse()) {
      try {
        iptables(['-D', ...rule]);
      } catch {
        // Already gone (a concurrent cleanup): nothing to restore.
      }
    }
    await container?.destroy();
    await server?.destroy();
    writeFileSync(IP_FORWARD, forwardBefore);
  };
  try {
    container = await createTestNet({ prefix: 'pfnc' });
    server = await createTestNet({ prefix: 'pfns' });
    writeFileSync(IP_FORWARD, '1');
    const c = container;
    const s = server;
    const add = (rule: string[], insert = false): void => {
      const tagged = [...rule, '-m', 'comment', '--comment', `pidflow-test-${c.id}`];
      iptables([insert ? '-I' : '-A', ...tagged]);
      rules.push(tagged);
    };
    // The host's FORWARD policy may be DROP (a container engine sets it): accept our two links.
    add(['FORWARD', '-i', c.a.device, '-o', s.a.device, '-j', 'ACCEPT'], true);
    add(['FORWARD', '-i', s.a.device, '-o', c.a.device, '-j', 'ACCEPT'], true);
    execFileSync('ip', ['-n', c.b.ns!, 'route', 'add', `${s.b.ipv4}/32`, 'via', c.a.ipv4]);
    execFileSync('ip', ['-n', c.b.ns!, 'route', 'add', `${s.a.ipv4}/32`, 'via', c.a.ipv4]);
    if (masquerade) {
      add([
        'POSTROUTING',
        '-t',
        'nat',
        '-s',
        `${c.b.ipv4}/32`,
        '-o',
        s.a.device,
        '-j',
        'MASQUERADE',
      ]);
    } else {
      execFileSync('ip', ['-n', s.b.ns!, 'route', 'add', `${c.b.ipv4}/32`, 'via', s.a.ipv4]);
    }
    if (options.publish !== undefined) {
      add([
        'PREROUTING',
        '-t',
        'nat',
        '-i',
        s.a.device,
        '-d',
        `${s.a.ipv4}/32`,
        '-p',
        'tcp',
        '--dport',
        String(options.publish.from),
        '-j',
        'DNAT',
        '--to-destination',
        `${c.b.ipv4}:${options.publish.to}`,
      ]);
    }
    return {
      container: c,
      server: s,
      containerSeenAs: masquerade ? s.a.ipv4 : c.b.ipv4,
      destroy,
    };
  } catch (error) {
    await destroy();
    throw error;
  }
}
