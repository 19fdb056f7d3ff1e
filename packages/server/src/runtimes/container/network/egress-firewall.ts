import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import {
  EGRESS_BRIDGE,
  EGRESS_CHAINS,
  type EgressRuleSet,
  egressRuleSet,
  type FamilyRules,
  resolversFrom,
} from './egress-rules.ts';

/** Runs a program with arguments and stdin; rejects with its stderr when it fails. */
export type CommandRunner = (file: string, args: string[], input?: string) => Promise<string>;

export const runCommand: CommandRunner = (file, args, input) =>
  new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout: 15_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(' ')}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
    // A program that exits without reading its stdin makes the write fail: its exit code says more.
    child.stdin?.on('error', () => {});
    if (input === undefined) child.stdin?.end();
    else child.stdin?.end(input);
  });

/** Seconds to wait for the xtables lock another process (Docker, another server) holds. */
const LOCK_WAIT = ['-w', '5'];

const FAMILIES = [
  { name: 'ipv4', iptables: 'iptables', restore: 'iptables-restore' },
  { name: 'ipv6', iptables: 'ip6tables', restore: 'ip6tables-restore' },
] as const;

export interface EgressFirewallOptions {
  /** How the iptables programs are run (the namespace test runs them in a namespace). @default runCommand */
  run?: CommandRunner;
  /** @default EGRESS_BRIDGE */
  bridge?: string;
  /** The DNS servers containers may reach. @default read as Docker reads them */
  resolvers?: () => Promise<string[]>;
  /** Whether IPv6 exists here (its rules are skipped when not). @default /proc/net/if_inet6 exists */
  ipv6?: boolean;
}

/**
 * Installs and keeps the egress network's rules (egress-rules.ts) in the host's filter tables,
 * IPv4 and IPv6. Idempotent: our chains are emptied and refilled in one `iptables-restore`
 * transaction, so they are never open half-way, and a jump is inserted only when missing.
 * `ensure` re-reads the tables and applies again when anything of ours is gone or changed (a
 * dockerd restart or a firewall reload flushes rules).
 */
export class EgressFirewall {
  #run: CommandRunner;
  #bridge: string;
  #resolvers: () => Promise<string[]>;
  #ipv6: boolean;
  /** What `iptables -S` showed of ours right after the last apply, per family. */
  #applied: { rules: EgressRuleSet; shown: Record<'ipv4' | 'ipv6', string[]> } | undefined;

  constructor(options: EgressFirewallOptions = {}) {
    this.#run = options.run ?? runCommand;
    this.#bridge = options.bridge ?? EGRESS_BRIDGE;
    this.#resolvers = options.resolvers ?? dockerResolvers;
    this.#ipv6 = options.ipv6 ?? existsSync('/proc/net/if_inet6');
  }

  /**
   * Makes the rules present: applies them when they are missing, changed, or were never applied
   * by this process. 'present' when nothing had to be done.
   * @throws Error when an iptables program fails (not root, no iptables): the caller refuses.
   */
  async ensure(): Promise<'present' | 'applied'> {
    const shownNow = await this.#show();
    const rules = egressRuleSet({
      bridge: this.#bridge,
      resolvers: await this.#resolvers(),
      forwardChain: shownNow.ipv4.includes('-N DOCKER-USER') ? 'DOCKER-USER' : 'FORWARD',
    });
    const applied = this.#applied;
    if (
      applied &&
      JSON.stringify(applied.rules) === JSON.stringify(rules) &&
      this.#families().every(({ name }) => sameLines(ours(applied.shown[name]), ours(shownNow[name])))
    ) {
      return 'present';
    }
    for (const family of this.#families()) await this.#apply(family, rules[family.name]);
    this.#applied = { rules, shown: await this.#show() };
    return 'applied';
  }

  #families() {
    return FAMILIES.filter((family) => family.name === 'ipv4' || this.#ipv6);
  }

  async #apply(family: (typeof FAMILIES)[number], rules: FamilyRules): Promise<void> {
    await this.#run(family.restore, [...LOCK_WAIT, '--noflush'], rules.restore);
    for (const { chain, rule } of rules.jumps) {
      try {
        await this.#run(family.iptables, [...LOCK_WAIT, '-C', chain, ...rule]);
      } catch {
        await this.#run(family.iptables, [...LOCK_WAIT, '-I', chain, '1', ...rule]);
      }
    }
  }

  /** The filter table of each family, as `iptables -S` lines. */
  async #show(): Promise<Record<'ipv4' | 'ipv6', string[]>> {
    const shown = { ipv4: [] as string[], ipv6: [] as string[] };
    for (const family of this.#families()) {
      shown[family.name] = (await this.#run(family.iptables, [...LOCK_WAIT, '-S'])).split('\n');
    }
    return shown;
  }
}

/** Our lines of an `iptables -S` listing: our chains' rules and the jumps into them. */
function ours(lines: string[]): string[] {
  const chains = Object.values(EGRESS_CHAINS) as string[];
  return lines.filter((line) => {
    const words = line.split(' ');
    return (
      (words[0] === '-A' && chains.includes(words[1] as string)) ||
      (words.includes('-j') && chains.includes(words[words.indexOf('-j') + 1] as string))
    );
  });
}

/** Same rules, same order within each chain; jumps may have moved among other rules. */
function sameLines(before: string[], now: string[]): boolean {
  return before.length === now.length && before.every((line, i) => line === now[i]);
}

/**
 * The DNS servers Docker's embedded resolver forwards to: a `dns` list in daemon.json, else
 * the host's resolv.conf (systemd-resolved's real one when the host's is only its stub).
 */
async function dockerResolvers(): Promise<string[]> {
  const read = (path: string) => readFile(path, 'utf8').catch(() => '');
  try {
    const daemon = JSON.parse(await read('/etc/docker/daemon.json')) as { dns?: unknown };
    if (Array.isArray(daemon.dns) && daemon.dns.every((s) => typeof s === 'string'))
      return resolversFrom(daemon.dns.map((address) => `nameserver ${address}`).join('\n'));
  } catch {
    // No daemon.json, or not JSON: Docker then reads resolv.conf too.
  }
  return resolversFrom(await read('/etc/resolv.conf'), await read('/run/systemd/resolve/resolv.conf'));
}
