import { isIP } from 'node:net';

/**
 * The firewall rules of the egress network (egress-network.ts): what `network: true` containers
 * may reach. Pure: the server installs this rule set on the host (egress-firewall.ts), and the
 * namespace test installs the very same one in a router namespace it made.
 *
 * Traffic that enters from the network's bridge:
 * - to the host itself (any of its addresses, which the kernel delivers through INPUT, not
 *   FORWARD): dropped, but for DNS to a resolver that is one of them;
 * - forwarded to the IPv4 ranges below (private, shared, link-local with the cloud metadata
 *   address 169.254.169.254, loopback, multicast, reserved): dropped, except DNS (udp and tcp
 *   port 53) to the resolvers the engine forwards to, which may be private;
 * - over IPv6: dropped (the network has no IPv6; this stops link-local use too);
 * - anything else (the public internet): on to Docker's own rules, which masquerade it.
 * New connections from outside into the bridge are dropped (nothing is published).
 */

/** The bridge interface of the egress network (≤ 15 characters, an interface name). */
export const EGRESS_BRIDGE = 'faas-egress0';

/** The chains, ours alone: filled by `egressRuleSet`, emptied and refilled as one on each apply. */
export const EGRESS_CHAINS = {
  /** Forwarded traffic from the bridge. */
  out: 'FAAS-EGRESS',
  /** Traffic from the bridge to the host itself. */
  host: 'FAAS-EGRESS-HOST',
  /** Forwarded traffic into the bridge. */
  in: 'FAAS-EGRESS-IN',
} as const;

/** IPv4 destinations that are not the public internet. */
export const BLOCKED_IPV4: readonly { cidr: string; what: string }[] = [
  { cidr: '0.0.0.0/8', what: '"this" network' },
  { cidr: '10.0.0.0/8', what: 'private (RFC 1918)' },
  { cidr: '100.64.0.0/10', what: 'shared address space / CGNAT (RFC 6598)' },
  { cidr: '127.0.0.0/8', what: 'loopback' },
  { cidr: '169.254.0.0/16', what: 'link-local, cloud metadata 169.254.169.254 among them' },
  { cidr: '172.16.0.0/12', what: 'private (RFC 1918), Docker networks among them' },
  { cidr: '192.0.0.0/24', what: 'IETF protocol assignments' },
  { cidr: '192.168.0.0/16', what: 'private (RFC 1918)' },
  { cidr: '198.18.0.0/15', what: 'benchmarking' },
  { cidr: '224.0.0.0/4', what: 'multicast' },
  { cidr: '240.0.0.0/4', what: 'reserved, broadcast' },
];

export interface EgressRuleOptions {
  /** The interface traffic comes from. @default EGRESS_BRIDGE */
  bridge?: string;
  /** DNS servers the containers may query (IPv4 ones get an exception). */
  resolvers: readonly string[];
  /** Where forwarded traffic is filtered first: Docker's `DOCKER-USER` when it exists, else `FORWARD`. */
  forwardChain: 'DOCKER-USER' | 'FORWARD';
}

/** One address family's rules: our chains' content, and the jumps that send traffic to them. */
export interface FamilyRules {
  /** `iptables-restore --noflush` input: declares our chains (emptying them) and fills them. */
  restore: string;
  /** Rules inserted first in built-in (or Docker's) chains: `[chain, ...rule]`. */
  jumps: { chain: string; rule: string[] }[];
}

export interface EgressRuleSet {
  ipv4: FamilyRules;
  ipv6: FamilyRules;
}

export function egressRuleSet(options: EgressRuleOptions): EgressRuleSet {
  const bridge = options.bridge ?? EGRESS_BRIDGE;
  const { out, host, in: inbound } = EGRESS_CHAINS;
  const dns = options.resolvers.filter((address) => isIP(address) === 4);
  // In both chains: a resolver may be one of the host's own addresses (a local dnsmasq).
  const allowDns = (chain: string) =>
    dns.flatMap((address) =>
      ['udp', 'tcp'].map(
        (proto) => `-A ${chain} -d ${address}/32 -p ${proto} -m ${proto} --dport 53 -j RETURN`,
      ),
    );
  const ipv4 = [
    ...allowDns(out),
    ...BLOCKED_IPV4.map(({ cidr }) => `-A ${out} -d ${cidr} -j DROP`),
    ...allowDns(host),
    `-A ${host} -j DROP`,
    `-A ${inbound} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
    `-A ${inbound} -j DROP`,
  ];
  const ipv6 = [`-A ${out} -j DROP`, `-A ${host} -j DROP`, `-A ${inbound} -j DROP`];
  const jumps = (forwardChain: string) => [
    { chain: forwardChain, rule: ['-i', bridge, '-j', out] },
    { chain: forwardChain, rule: ['-o', bridge, '-j', inbound] },
    { chain: 'INPUT', rule: ['-i', bridge, '-j', host] },
  ];
  return {
    ipv4: { restore: restoreInput(ipv4), jumps: jumps(options.forwardChain) },
    // Docker makes no DOCKER-USER for IPv6 unless its ip6tables support is on.
    ipv6: { restore: restoreInput(ipv6), jumps: jumps('FORWARD') },
  };
}

function restoreInput(rules: string[]): string {
  const chains = Object.values(EGRESS_CHAINS).map((chain) => `:${chain} - [0:0]`);
  return ['*filter', ...chains, ...rules, 'COMMIT', ''].join('\n');
}

/**
 * The DNS servers Docker's embedded resolver forwards to, from resolv.conf text as Docker picks
 * it: loopback servers are dialed from the host's namespace (so need no exception); a file with
 * only loopback servers (systemd-resolved's stub) is replaced by the real one by Docker, which
 * `fallback` holds when given.
 */
export function resolversFrom(resolvConf: string, fallback?: string): string[] {
  const servers = nameservers(resolvConf);
  const remote = servers.filter((address) => !isLoopback(address));
  if (remote.length === 0 && servers.length > 0 && fallback !== undefined) {
    return nameservers(fallback).filter((address) => !isLoopback(address));
  }
  return remote;
}

function nameservers(text: string): string[] {
  const found: string[] = [];
  for (const line of text.split('\n')) {
    const match = /^\s*nameserver\s+(\S+)/.exec(line);
    const address = match?.[1]?.split('%')[0];
    if (address && isIP(address) !== 0 && !found.includes(address)) found.push(address);
  }
  return found;
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}
