import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ErrorCode } from '@faas/core';
import type { RuntimeImageTags } from '../../packages/server/src/runtimes/container/images/build-runtime-images.ts';
import {
  EgressFirewall,
  runCommand,
} from '../../packages/server/src/runtimes/container/network/egress-firewall.ts';
import {
  EGRESS_NETWORK,
  EGRESS_NETWORK_OPTIONS,
  EgressNetwork,
} from '../../packages/server/src/runtimes/container/network/egress-network.ts';
import {
  EGRESS_BRIDGE,
  EGRESS_CHAINS,
} from '../../packages/server/src/runtimes/container/network/egress-rules.ts';
import {
  buildImagesForTests,
  createTestRuntime,
  docker,
  engineSkipReason,
  request,
  type TestRuntime,
} from './support.ts';

const skip =
  (await engineSkipReason()) || (process.getuid?.() !== 0 ? 'the egress firewall needs root' : false);

/** The container's own address on its network, from the /etc/hosts the engine writes. */
const OWN_ADDRESS = ['sh', '-c', 'tail -n 1 /etc/hosts | cut -f 1'];

/** Whether an IPv4 address is in a CIDR subnet. */
function inSubnet(address: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/') as [string, string];
  const n = (a: string) => a.split('.').reduce((v, o) => v * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(bits));
  return Math.floor(n(address) / size) === Math.floor(n(base) / size);
}

const rules = (command: 'iptables' | 'ip6tables', chain: string) =>
  execFileSync(command, ['-w', '5', '-S', chain]).toString().trim().split('\n');

describe('network: true joins the egress-only network (real engine, runc and gVisor)', { skip }, () => {
  let t: TestRuntime;
  let images: RuntimeImageTags;
  let subnet: string;

  before(
    async () => {
      images = await buildImagesForTests();
      t = await createTestRuntime();
      await t.runtime.egressReady();
      const info = await docker.getNetwork(EGRESS_NETWORK).inspect();
      subnet = info.IPAM?.Config?.[0]?.Subnet ?? '';
    },
    { timeout: 900_000 },
  );

  after(async () => {
    await t?.close();
  });

  it('is a bridge with inter-container traffic off and no IPv6, and its rules are in place', async () => {
    const info = await docker.getNetwork(EGRESS_NETWORK).inspect();
    assert.equal(info.Driver, 'bridge');
    assert.equal(info.EnableIPv6, false);
    assert.equal(info.Internal, false);
    for (const [key, value] of Object.entries(EGRESS_NETWORK_OPTIONS))
      assert.equal(info.Options?.[key], value, key);
    assert.equal(info.Options?.['com.docker.network.bridge.enable_icc'], 'false');
    // Docker's own rule that enforces ICC off.
    assert.ok(
      rules('iptables', 'FORWARD').includes(`-A FORWARD -i ${EGRESS_BRIDGE} -o ${EGRESS_BRIDGE} -j DROP`),
    );
    const out = rules('iptables', EGRESS_CHAINS.out);
    for (const cidr of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16']) {
      assert.ok(out.includes(`-A ${EGRESS_CHAINS.out} -d ${cidr} -j DROP`), `${cidr} in ${out.join('\n')}`);
    }
    assert.ok(rules('iptables', EGRESS_CHAINS.host).includes(`-A ${EGRESS_CHAINS.host} -j DROP`));
    assert.ok(
      rules('iptables', 'DOCKER-USER').includes(`-A DOCKER-USER -i ${EGRESS_BRIDGE} -j ${EGRESS_CHAINS.out}`),
    );
    assert.ok(rules('iptables', 'INPUT').includes(`-A INPUT -i ${EGRESS_BRIDGE} -j ${EGRESS_CHAINS.host}`));
    assert.ok(rules('ip6tables', EGRESS_CHAINS.out).includes(`-A ${EGRESS_CHAINS.out} -j DROP`));
    assert.ok(rules('ip6tables', 'INPUT').includes(`-A INPUT -i ${EGRESS_BRIDGE} -j ${EGRESS_CHAINS.host}`));
  });

  it('sandboxes with network join it (runc and gVisor), nothing published; without network they have none', async () => {
    for (const isolation of ['runc', 'gvisor'] as const) {
      const run = await t.runtime.runInSandbox({
        image: images.base,
        command: OWN_ADDRESS,
        network: true,
        isolation,
      });
      assert.equal(run.exitCode, 0, run.stderr);
      assert.ok(inSubnet(run.stdout.trim(), subnet), `${isolation}: ${run.stdout} in ${subnet}`);
    }
    // The spare started for the next network run is on the network too, and publishes nothing.
    await t.runtime.settled();
    const spares = await docker.listContainers({
      filters: JSON.stringify({ label: [`faas.owner=${t.runtime.ownerId}`], network: [EGRESS_NETWORK] }),
    });
    assert.ok(spares.length > 0, 'a network spare');
    for (const spare of spares) {
      const info = await docker.getContainer(spare.Id).inspect();
      assert.equal(info.HostConfig.NetworkMode, EGRESS_NETWORK);
      assert.deepEqual(info.HostConfig.PortBindings ?? {}, {});
      assert.deepEqual(info.NetworkSettings.Ports ?? {}, {});
    }
    const none = await t.runtime.runInSandbox({ image: images.base, command: ['cat', '/proc/net/dev'] });
    assert.doesNotMatch(none.stdout, /eth0/);
  });

  it('node functions with network join it, under runc and under gVisor', async () => {
    for (const isolation of ['runc', 'gvisor'] as const) {
      const fn = await t.deploy(
        {
          'index.mjs': `import os from 'node:os';
export default async () => Object.values(os.networkInterfaces()).flat().filter((a) => a.family === 'IPv4' && !a.internal).map((a) => a.address);`,
        },
        // A first gVisor container has no spare to take: on a loaded machine it takes a while.
        { network: true, isolation, timeoutMs: 60_000 },
      );
      const outcome = await t.runtime.invoke(request(fn, {}));
      assert.equal(outcome.status, 'succeeded', JSON.stringify(outcome));
      const addresses = outcome.status === 'succeeded' ? (outcome.result as string[]) : [];
      assert.equal(addresses.length, 1, `${isolation}: ${addresses}`);
      assert.ok(inSubnet(addresses[0] as string, subnet), `${isolation}: ${addresses} in ${subnet}`);
      await t.runtime.retire(fn.name);
    }
  });
});

describe('network: true is refused when the firewall cannot be installed', { skip }, () => {
  let t: TestRuntime;
  let images: RuntimeImageTags;

  before(
    async () => {
      images = await buildImagesForTests();
      // iptables run as nobody: the real program, failing as it does for a server that is not root.
      const asNobody = new EgressFirewall({
        run: (file, args, input) =>
          runCommand('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', file, ...args], input),
      });
      t = await createTestRuntime({ egressFirewall: asNobody });
    },
    { timeout: 900_000 },
  );

  after(async () => {
    await t?.close();
  });

  it('answers NETWORK_UNAVAILABLE (503) naming the cause, and runs sandboxes without network', async () => {
    await assert.rejects(
      t.runtime.runInSandbox({ image: images.base, command: ['true'], network: true }),
      (err: { code?: string; status?: number; message?: string }) =>
        err.code === ErrorCode.NETWORK_UNAVAILABLE && err.status === 503 && /root/.test(err.message ?? ''),
    );
    const fn = await t.deploy({ 'index.mjs': 'export default async () => 1;' }, { network: true });
    // An image function with network is refused at deploy, as node and python ones are.
    const imageFn = await t.deploy(
      {},
      { runtime: 'image', image: images.base, command: ['true'], network: true },
    );
    await assert.rejects(
      t.runtime.prepare(imageFn),
      (err: { code?: string }) => err.code === ErrorCode.NETWORK_UNAVAILABLE,
    );
    await t.runtime.prepare({ ...imageFn, network: false });
    const outcome = await t.runtime.invoke(request(fn, {}));
    assert.equal(outcome.status, 'failed');
    assert.match(JSON.stringify(outcome), /NETWORK_UNAVAILABLE/);
    const offline = await t.runtime.runInSandbox({ image: images.base, command: ['echo', 'ok'] });
    assert.equal(offline.stdout, 'ok\n');
    assert.equal(await t.containerCount(), t.runtime.trackedContainers());
  });
});

describe('the egress rules are watched once network containers are asked for', { skip }, () => {
  // The rules go into a namespace of the test's own, so flushing them touches nothing else.
  const ns = `faas-fw-${randomBytes(3).toString('hex')}`;
  let failing = false;
  const inNamespace = (file: string, args: string[], input?: string) =>
    failing
      ? runCommand('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', file, ...args], input)
      : runCommand('ip', ['netns', 'exec', ns, file, ...args], input);
  const chain = () =>
    execFileSync('ip', ['netns', 'exec', ns, 'iptables', '-S', EGRESS_CHAINS.out])
      .toString()
      .trim()
      .split('\n');
  let network: EgressNetwork;
  const logged: string[] = [];

  before(() => {
    execFileSync('ip', ['netns', 'add', ns]);
    network = new EgressNetwork({
      docker,
      firewall: new EgressFirewall({ run: inNamespace, resolvers: async () => [], ipv6: false }),
      engineIsLocal: true,
      checkMs: 200,
      logger: { warn: (m: string) => logged.push(m), error: (...m: unknown[]) => logged.push(m.join(' ')) },
    });
  });

  after(() => {
    network?.close();
    execFileSync('ip', ['netns', 'del', ns]);
  });

  async function eventually(check: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 300 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(check(), what);
  }

  it('puts flushed rules back without a request, and refuses once they cannot be', async () => {
    await network.install();
    assert.ok(chain().length > 1, 'installed at start');
    execFileSync('ip', ['netns', 'exec', ns, 'iptables', '-F', EGRESS_CHAINS.out]);
    // Not watched before a container with network is asked for: still flushed a while later.
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(chain().length, 1);
    await network.ready();
    assert.ok(chain().length > 1, 'ready() checks a stale check again');
    execFileSync('ip', ['netns', 'exec', ns, 'iptables', '-F', EGRESS_CHAINS.out]);
    await eventually(() => chain().length > 1, 'the watch applies them again');
    assert.ok(logged.some((line) => /applied them again/.test(line)));
    failing = true;
    await eventually(
      () => logged.some((line) => /refused until this is fixed/.test(line)),
      'a failed check logged',
    );
    await assert.rejects(
      network.ready(),
      (err: { code?: string }) => err.code === ErrorCode.NETWORK_UNAVAILABLE,
    );
  });
});
