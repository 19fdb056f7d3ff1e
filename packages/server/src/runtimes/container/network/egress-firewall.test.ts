import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type CommandRunner, EgressFirewall, runCommand } from './egress-firewall.ts';
import { EGRESS_CHAINS, egressRuleSet, resolversFrom } from './egress-rules.ts';

describe('egress rules', () => {
  it('drop private, shared, link-local and loopback ranges, allow DNS to the resolvers, drop IPv6', () => {
    const rules = egressRuleSet({ resolvers: ['10.9.9.9', 'fd00::53'], forwardChain: 'DOCKER-USER' });
    for (const cidr of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16']) {
      assert.ok(rules.ipv4.restore.includes(`-A FAAS-EGRESS -d ${cidr} -j DROP`), cidr);
    }
    const lines = rules.ipv4.restore.split('\n');
    const dns = lines.indexOf('-A FAAS-EGRESS -d 10.9.9.9/32 -p udp -m udp --dport 53 -j RETURN');
    assert.ok(dns >= 0 && dns < lines.indexOf('-A FAAS-EGRESS -d 10.0.0.0/8 -j DROP'), 'DNS comes first');
    assert.ok(lines.includes('-A FAAS-EGRESS-HOST -j DROP'));
    assert.ok(rules.ipv6.restore.includes('-A FAAS-EGRESS -j DROP'));
    assert.deepEqual(
      rules.ipv4.jumps.map((j) => [j.chain, ...j.rule].join(' ')),
      [
        'DOCKER-USER -i faas-egress0 -j FAAS-EGRESS',
        'DOCKER-USER -o faas-egress0 -j FAAS-EGRESS-IN',
        'INPUT -i faas-egress0 -j FAAS-EGRESS-HOST',
      ],
    );
    assert.equal(rules.ipv6.jumps[0]?.chain, 'FORWARD');
  });

  it('takes the resolvers Docker forwards to: not loopback ones, the real file behind a stub', () => {
    assert.deepEqual(resolversFrom('nameserver 10.0.0.2\nnameserver 127.0.0.1\n# nameserver 1.1.1.1\n'), [
      '10.0.0.2',
    ]);
    assert.deepEqual(resolversFrom('nameserver 127.0.0.53\n', 'nameserver 192.168.1.1\n'), ['192.168.1.1']);
    assert.deepEqual(resolversFrom('nameserver fe80::1%eth0\nnameserver bogus\n'), ['fe80::1']);
  });
});

// Network namespaces the test makes: a "sandbox" behind a "router" that holds the rule set
// (the router stands for the host, its link to the sandbox for the bridge), and "target"
// namespaces on the other side. Connections go only between these namespaces.
const canRun = (() => {
  if (process.getuid?.() !== 0) return 'needs root (ip netns, iptables)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
    execFileSync('iptables', ['-V'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'needs ip (iproute2) and iptables';
  }
})();

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
const inNamespace =
  (ns: string): CommandRunner =>
  (file, args, input) =>
    runCommand('ip', ['netns', 'exec', ns, file, ...args], input);

/** Listens on TCP port 80 (IPv4 and IPv6) and answers UDP datagrams on port 53 with "dns". */
const LISTENER = `
const net = require('node:net'), dgram = require('node:dgram');
for (const host of ['0.0.0.0', '::']) net.createServer((s) => s.end('hello')).listen({ port: 80, host, ipv6Only: true });
const udp = dgram.createSocket('udp4');
udp.on('message', (m, r) => udp.send('dns', r.port, r.address));
udp.bind(53, () => console.log('listening'));
`;

/** Tries each probe at once; prints what happened to each: "open", "dropped" or an error code. */
const PROBE = `
const net = require('node:net'), dgram = require('node:dgram');
const probe = ([kind, host, port]) => new Promise((resolve) => {
  const timer = setTimeout(() => { done('dropped'); }, 2000);
  let socket;
  let resend;
  const done = (what) => { clearTimeout(timer); clearInterval(resend); socket?.destroy?.(); socket?.close?.(); resolve(what); };
  if (kind === 'udp') {
    socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    socket.on('message', (m) => done(String(m) === 'dns' ? 'open' : 'bad answer'));
    socket.on('error', (e) => done(e.code));
    // Sent again until answered, as a resolver client does: one datagram can be lost while the
    // links are still coming up (TCP's SYN is retried by the kernel).
    const send = () => socket.send('q', port, host);
    send();
    resend = setInterval(send, 250);
  } else {
    socket = net.connect({ host, port });
    socket.on('data', () => done('open'));
    socket.on('error', (e) => done(e.code));
  }
});
Promise.all(JSON.parse(process.argv[1]).map(probe)).then((r) => console.log(JSON.stringify(r)));
`;

describe('egress rules in network namespaces', { skip: canRun }, () => {
  const id = randomBytes(3).toString('hex');
  const ns = {
    sandbox: `faas-sbx-${id}`,
    router: `faas-rtr-${id}`,
    private: `faas-prv-${id}`,
    public: `faas-pub-${id}`,
  };
  // The router's end of the sandbox link plays the bridge: the rules match it by name.
  const bridge = `fe${id}b`;
  const listeners: ChildProcess[] = [];
  let firewall: EgressFirewall;

  function link(from: string, fromName: string, to: string, toName: string): void {
    ip('link', 'add', fromName, 'netns', from, 'type', 'veth', 'peer', 'name', toName, 'netns', to);
    ip('-n', from, 'link', 'set', fromName, 'up');
    ip('-n', to, 'link', 'set', toName, 'up');
  }
  const addr = (n: string, dev: string, cidr: string) =>
    ip('-n', n, 'addr', 'add', cidr, 'dev', dev, ...(cidr.includes(':') ? ['nodad'] : []));
  const route = (n: string, ...args: string[]) =>
    args[0] === '-6'
      ? ip('-n', n, '-6', 'route', 'add', ...args.slice(1))
      : ip('-n', n, 'route', 'add', ...args);

  async function listen(n: string): Promise<void> {
    const child = spawn('ip', ['netns', 'exec', n, process.execPath, '-e', LISTENER], { stdio: 'pipe' });
    listeners.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`listener in ${n} exited with ${code}`)));
    });
  }

  async function probe(from: string, probes: [kind: 'tcp' | 'udp', host: string, port: number][]) {
    const out = execFileSync('ip', [
      'netns',
      'exec',
      from,
      process.execPath,
      '-e',
      PROBE,
      JSON.stringify(probes),
    ]);
    return JSON.parse(out.toString()) as string[];
  }

  before(async () => {
    for (const name of Object.values(ns)) ip('netns', 'add', name);
    for (const name of Object.values(ns)) ip('-n', name, 'link', 'set', 'lo', 'up');
    link(ns.router, bridge, ns.sandbox, 'eth0');
    link(ns.router, `fe${id}p`, ns.private, 'eth0');
    link(ns.router, `fe${id}w`, ns.public, 'eth0');
    // The sandbox's subnet, as Docker's bridge gives it, with IPv6 too to show it goes nowhere.
    addr(ns.router, bridge, '172.30.7.1/24');
    addr(ns.sandbox, 'eth0', '172.30.7.2/24');
    route(ns.sandbox, 'default', 'via', '172.30.7.1');
    addr(ns.router, bridge, 'fd77::1/64');
    addr(ns.sandbox, 'eth0', 'fd77::2/64');
    route(ns.sandbox, '-6', 'default', 'via', 'fd77::1');
    // Private targets: a resolver, an RFC 1918 host and the metadata address. The resolver's
    // address first: the listener answers UDP from the namespace's primary address.
    addr(ns.router, `fe${id}p`, '10.77.0.1/24');
    addr(ns.private, 'eth0', '10.77.0.53/24');
    addr(ns.private, 'eth0', '10.77.0.2/24');
    addr(ns.private, 'eth0', '169.254.169.254/32');
    route(ns.router, '169.254.169.254/32', 'dev', `fe${id}p`);
    route(ns.private, 'default', 'via', '10.77.0.1');
    // A public-range target (documentation ranges: nothing real is reached even by mistake).
    addr(ns.router, `fe${id}w`, '198.51.100.1/24');
    addr(ns.public, 'eth0', '198.51.100.7/24');
    route(ns.public, 'default', 'via', '198.51.100.1');
    addr(ns.router, `fe${id}w`, '2001:db8:77::1/64');
    addr(ns.public, 'eth0', '2001:db8:77::7/64');
    route(ns.public, '-6', 'default', 'via', '2001:db8:77::1');
    await inNamespace(ns.router)('sh', [
      '-c',
      'echo 1 > /proc/sys/net/ipv4/ip_forward && echo 1 > /proc/sys/net/ipv6/conf/all/forwarding',
    ]);
    await Promise.all([listen(ns.router), listen(ns.private), listen(ns.public), listen(ns.sandbox)]);
    firewall = new EgressFirewall({
      run: inNamespace(ns.router),
      bridge,
      // A resolver in a private range and one on the router itself (the host's own address).
      resolvers: async () => ['10.77.0.53', '198.51.100.1'],
      ipv6: true,
    });
  });

  after(() => {
    for (const child of listeners) child.kill('SIGKILL');
    for (const name of Object.values(ns)) {
      try {
        ip('netns', 'del', name);
      } catch {
        // Not made: before() failed early.
      }
    }
  });

  const everything: [kind: 'tcp' | 'udp', host: string, port: number][] = [
    ['tcp', '198.51.100.7', 80],
    ['tcp', '10.77.0.2', 80],
    ['tcp', '169.254.169.254', 80],
    ['udp', '10.77.0.53', 53],
    ['tcp', '10.77.0.53', 80],
    ['tcp', '172.30.7.1', 80],
    ['tcp', '198.51.100.1', 80],
    ['tcp', '2001:db8:77::7', 80],
    ['tcp', 'fd77::1', 80],
    ['udp', '198.51.100.1', 53],
  ];

  it('without the rules, every target answers (the drops below are the rules’ doing)', async () => {
    // The links just made may take a moment (neighbour discovery, IPv6 routes) on a loaded
    // machine: the namespaces are ready once every target answered in one round.
    let answers = await probe(ns.sandbox, everything);
    for (let round = 1; round < 5 && answers.some((a) => a !== 'open'); round++) {
      answers = await probe(ns.sandbox, everything);
    }
    assert.deepEqual(
      answers,
      everything.map(() => 'open'),
    );
    assert.deepEqual(await probe(ns.public, [['tcp', '172.30.7.2', 80]]), ['open']);
  });

  it('with them: public allowed, DNS to the resolver allowed, private, metadata, the host and IPv6 dropped', async () => {
    assert.equal(await firewall.ensure(), 'applied');
    assert.deepEqual(await probe(ns.sandbox, everything), [
      'open', // a public-range address
      'dropped', // RFC 1918
      'dropped', // cloud metadata
      'open', // DNS to the resolver, though it is private
      'dropped', // anything else to the resolver
      'dropped', // the host's address on the bridge (INPUT)
      'dropped', // the host's other addresses (INPUT too)
      'dropped', // IPv6 to a public-range address
      'dropped', // IPv6 to the host
      'open', // DNS to a resolver on the host's own address
    ]);
    // Nothing is published: new connections into the sandbox are dropped, replies go out.
    assert.deepEqual(await probe(ns.public, [['tcp', '172.30.7.2', 80]]), ['dropped']);
  });

  it('applies again when a chain was flushed or a jump deleted, and is idempotent otherwise', async () => {
    const iptables = (...args: string[]) => inNamespace(ns.router)('iptables', args);
    assert.equal(await firewall.ensure(), 'present');
    await iptables('-F', EGRESS_CHAINS.out);
    assert.deepEqual(await probe(ns.sandbox, [['tcp', '10.77.0.2', 80]]), ['open']);
    assert.equal(await firewall.ensure(), 'applied');
    assert.deepEqual(await probe(ns.sandbox, [['tcp', '10.77.0.2', 80]]), ['dropped']);
    await iptables('-D', 'INPUT', '-i', bridge, '-j', EGRESS_CHAINS.host);
    assert.equal(await firewall.ensure(), 'applied');
    assert.deepEqual(await probe(ns.sandbox, [['tcp', '172.30.7.1', 80]]), ['dropped']);
    // Applied twice: the jumps are there once each.
    const jumps = (await iptables('-S')).split('\n').filter((line) => line.includes(`-i ${bridge} -j`));
    assert.equal(jumps.length, 2, jumps.join('\n'));
  });
});
