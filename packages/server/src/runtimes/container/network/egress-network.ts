import { ErrorCode, FaasError } from '@faas/core';
import type Docker from 'dockerode';
import { MANAGED_LABEL } from '../container-labels.ts';
import { engineStatus } from '../docker-engine.ts';
import type { EgressFirewall } from './egress-firewall.ts';
import { EGRESS_BRIDGE } from './egress-rules.ts';

/** The Docker network every container with `network: true` joins; shared by the servers of an engine. */
export const EGRESS_NETWORK = 'faas-egress';

/** The options that make it what it is: its bridge's name (the rules match it) and no ICC. */
export const EGRESS_NETWORK_OPTIONS: Readonly<Record<string, string>> = {
  'com.docker.network.bridge.name': EGRESS_BRIDGE,
  'com.docker.network.bridge.enable_icc': 'false',
  'com.docker.network.bridge.enable_ip_masquerade': 'true',
};

declare const checked: unique symbol;

/**
 * Proof that the egress network exists and its firewall rules were present moments ago: only
 * `EgressNetwork.ready()` makes one, and `hardenedHostConfig` wants one for a container with
 * network, so no code path can start such a container on an unguarded network.
 */
export interface EgressReady {
  readonly network: string;
  readonly [checked]: true;
}

type Logger = Pick<Console, 'warn' | 'error'>;

export interface EgressNetworkOptions {
  docker: Docker;
  firewall: EgressFirewall;
  /**
   * Whether the engine runs on this host, where the firewall rules go. When it does not, network
   * containers are refused: rules installed here would not guard them.
   */
  engineIsLocal: boolean;
  /** How long a check of the rules is trusted; also the pace of the background re-check. @default 5000 */
  checkMs?: number;
  logger: Logger;
}

/**
 * The egress-only network of `network: true` containers: a bridge with inter-container traffic
 * off and nothing published, behind the firewall rules of egress-rules.ts. The rules go in before
 * the network is made, are checked again before network containers start (at most `checkMs`
 * old) and in the background, and are put back when missing. When they cannot be installed,
 * `ready()` refuses: a network container never runs unguarded.
 */
export class EgressNetwork {
  #options: EgressNetworkOptions;
  #checkMs: number;
  #checkedAt: number | undefined;
  #pending: Promise<EgressReady> | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Containers with network were asked for: from then on the rules are watched. */
  #inUse = false;
  #closed = false;

  constructor(options: EgressNetworkOptions) {
    this.#options = options;
    this.#checkMs = options.checkMs ?? 5000;
  }

  /**
   * Resolves when network containers may start: the rules are in place and the network exists.
   * @throws FaasError NETWORK_UNAVAILABLE when the rules cannot be installed or the network made.
   */
  ready(): Promise<EgressReady> {
    if (this.#closed) return Promise.reject(unavailable('the container runtime is closed'));
    this.#inUse = true;
    if (this.#checkedAt !== undefined && Date.now() - this.#checkedAt < this.#checkMs) {
      this.#watch();
      return Promise.resolve(readyToken());
    }
    return this.#checkOnce();
  }

  /**
   * Installs the rules and makes the network now (at the server's start), without watching
   * them until a container with network is asked for.
   * @throws FaasError NETWORK_UNAVAILABLE as `ready()`.
   */
  async install(): Promise<void> {
    if (this.#closed) throw unavailable('the container runtime is closed');
    await this.#checkOnce();
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
  }

  #checkOnce(): Promise<EgressReady> {
    this.#pending ??= this.#check().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #check(): Promise<EgressReady> {
    try {
      if (!this.#options.engineIsLocal) {
        throw unavailable(
          'the Docker Engine is not on this host, so this server cannot install the firewall that guards the network',
        );
      }
      let outcome: 'present' | 'applied';
      try {
        outcome = await this.#options.firewall.ensure();
      } catch (err) {
        throw unavailable(
          `its firewall rules could not be installed (${(err as Error).message}); the server must run as root on the Docker host, with iptables`,
          err,
        );
      }
      if (outcome === 'applied' && this.#checkedAt !== undefined)
        this.#options.logger.warn('egress firewall rules were missing or changed: applied them again');
      await this.#ensureNetwork();
    } catch (err) {
      this.#checkedAt = undefined;
      throw err;
    }
    this.#checkedAt = Date.now();
    if (this.#inUse) this.#watch();
    return readyToken();
  }

  /**
   * Keeps checking while the server runs, once it has had containers with network, so rules a
   * flush removed come back without a request; at twice the pace of `checkMs`, so `ready()`
   * finds a fresh check and pays no iptables call.
   */
  #watch(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => {
      if (this.#pending) return;
      this.#checkOnce().catch((err) =>
        this.#options.logger.error('network sandboxes refused until this is fixed:', (err as Error).message),
      );
    }, this.#checkMs / 2);
    this.#timer.unref();
  }

  async #ensureNetwork(): Promise<void> {
    const { docker } = this.#options;
    let info: Docker.NetworkInspectInfo;
    try {
      info = await this.#inspect();
    } catch (err) {
      if (engineStatus(err) !== 404)
        throw unavailable(`inspecting it failed: ${(err as Error).message}`, err);
      try {
        await docker.createNetwork({
          Name: EGRESS_NETWORK,
          Driver: 'bridge',
          CheckDuplicate: true,
          EnableIPv6: false,
          Internal: false,
          Options: { ...EGRESS_NETWORK_OPTIONS },
          Labels: { [MANAGED_LABEL]: 'true' },
        });
      } catch (createErr) {
        // Another server made it at the same moment: use theirs.
        if (engineStatus(createErr) !== 409)
          throw unavailable(`creating it failed: ${(createErr as Error).message}`, createErr);
      }
      info = await this.#inspect();
    }
    const wrong = Object.entries(EGRESS_NETWORK_OPTIONS)
      .filter(([key, value]) => info.Options?.[key] !== value)
      .map(([key, value]) => `${key}=${value}`);
    if (info.Driver !== 'bridge' || info.EnableIPv6 || info.Internal || wrong.length > 0) {
      throw unavailable(
        `the Docker network "${EGRESS_NETWORK}" exists but is not the egress network (wants a bridge without IPv6${wrong.length ? `, ${wrong.join(', ')}` : ''}); remove it with \`docker network rm ${EGRESS_NETWORK}\``,
      );
    }
  }

  #inspect(): Promise<Docker.NetworkInspectInfo> {
    return this.#options.docker.getNetwork(EGRESS_NETWORK).inspect() as Promise<Docker.NetworkInspectInfo>;
  }
}

function readyToken(): EgressReady {
  return { network: EGRESS_NETWORK } as EgressReady;
}

function unavailable(reason: string, cause?: unknown): FaasError {
  return new FaasError(
    ErrorCode.NETWORK_UNAVAILABLE,
    `Containers with network are refused: ${reason}. See docs/runtimes/container.md#network`,
    cause === undefined ? {} : { cause },
  );
}
