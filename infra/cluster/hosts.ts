/**
 * "Hosts" on one machine: each a network namespace (`cbdc-<net>-<name>`) with loopback up and one
 * interface (`eth0`, a veth pair) on a bridge (`cbdc-<net>br`) in the root namespace, addressed in
 * the benchmarking range 198.18.0.0/15 only. The root namespace holds the bridge's address (.1), so
 * that this machine's own processes (the operator, the load, the tests) reach every host. No host
 * has a default route: nothing is routed out of the namespaces, and no NAT is set up.
 *
 * Faults between hosts: `partition(a, b)` adds an `unreachable` route to each for the other (new
 * connections fail with EHOSTUNREACH, packets of open ones are dropped, as behind a failed router);
 * `heal` removes them. `degrade(host, { delayMs, lossPercent })` puts tc netem on the host's
 * interface (egress, so a round trip between two degraded hosts pays the delay twice).
 *
 * Everything created is named `cbdc-*`; `teardownHosts()` finds and removes it by name, including
 * what an earlier run left behind.
 */
import { run, type CommandPrefix } from './processes.js';

export interface Host {
  name: string;
  /** The network namespace. */
  ns: string;
  ip: string;
  /** What runs a command on this host: `ip netns exec <ns>`. */
  prefix: CommandPrefix;
  /** The root-namespace end of the host's veth pair. */
  link: string;
}

export interface HostNetwork {
  /** A short tag in every name (one network per tag): 1 to 3 of a-z 0-9. */
  tag: string;
  bridge: string;
  /** The root namespace's address on the bridge. */
  rootIp: string;
  hosts: Map<string, Host>;
  host(name: string): Host;
  partition(a: Host, b: Host): void;
  heal(a: Host, b: Host): void;
  degrade(host: Host, o: { delayMs: number; lossPercent: number }): void;
  restore(host: Host): void;
  teardown(): void;
}

/** The /24 of a network: 198.18.<subnet>.0/24, inside 198.18.0.0/15. */
function addressOf(subnet: number, index: number): string {
  if (!Number.isInteger(subnet) || subnet < 0 || subnet > 255) throw new Error(`subnet ${subnet}: must be 0..255 (198.18.<subnet>.0/24)`);
  if (index < 1 || index > 254) throw new Error(`host index ${index}: must be 1..254`);
  return `198.18.${subnet}.${index}`;
}

const ip = (...args: string[]) => run([], ['ip', ...args]);

/**
 * Creates one namespace per name on a bridge of its own. `subnet` picks the /24 (198.18.<subnet>.0),
 * so that networks of different tags can exist side by side (the cluster and a test).
 */
export function createHosts(names: string[], o: { tag: string; subnet: number }): HostNetwork {
  if (!/^[a-z0-9]{1,3}$/.test(o.tag)) throw new Error(`network tag ${o.tag}: 1 to 3 of a-z 0-9`);
  if (names.length > 200) throw new Error('at most 200 hosts per network');
  teardownHosts(o.tag);
  const bridge = `cbdc-${o.tag}br`;
  const rootIp = addressOf(o.subnet, 1);
  const hosts = new Map<string, Host>();
  const network: HostNetwork = {
    tag: o.tag,
    bridge,
    rootIp,
    hosts,
    host(name) {
      const h = hosts.get(name);
      if (!h) throw new Error(`no host ${name} in network ${o.tag}`);
      return h;
    },
    partition(a, b) {
      for (const [from, to] of [
        [a, b],
        [b, a],
      ]) {
        run([], ['ip', '-n', from.ns, 'route', 'replace', 'unreachable', `${to.ip}/32`]);
      }
    },
    heal(a, b) {
      for (const [from, to] of [
        [a, b],
        [b, a],
      ]) {
        try {
          run([], ['ip', '-n', from.ns, 'route', 'del', 'unreachable', `${to.ip}/32`]);
        } catch {
          // not partitioned
        }
      }
    },
    degrade(host, { delayMs, lossPercent }) {
      if (!(delayMs >= 0 && delayMs <= 1000 && lossPercent >= 0 && lossPercent <= 50)) throw new Error('degrade: delay 0..1000 ms, loss 0..50 %');
      run([], ['tc', '-n', host.ns, 'qdisc', 'replace', 'dev', 'eth0', 'root', 'netem', 'delay', `${delayMs}ms`, 'loss', `${lossPercent}%`]);
    },
    restore(host) {
      try {
        run([], ['tc', '-n', host.ns, 'qdisc', 'del', 'dev', 'eth0', 'root']);
      } catch {
        // nothing to remove
      }
    },
    teardown: () => teardownHosts(o.tag),
  };
  try {
    ip('link', 'add', bridge, 'type', 'bridge');
    ip('addr', 'add', `${rootIp}/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    names.forEach((name, i) => {
      if (!/^[a-z0-9-]{1,20}$/.test(name)) throw new Error(`host name ${name}: 1 to 20 of a-z 0-9 -`);
      const ns = `cbdc-${o.tag}-${name}`;
      const link = `cbdc-${o.tag}v${i}`;
      const address = addressOf(o.subnet, 10 + i);
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      ip('link', 'set', link, 'master', bridge);
      ip('link', 'set', link, 'up');
      ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
      ip('-n', ns, 'link', 'set', 'eth0', 'up');
      hosts.set(name, { name, ns, ip: address, prefix: ['ip', 'netns', 'exec', ns], link });
    });
  } catch (error) {
    teardownHosts(o.tag);
    throw error;
  }
  return network;
}

/**
 * Removes every namespace and link named `cbdc-<tag>*` (all `cbdc-*` without a tag), ending the
 * processes still running in those namespaces first: they were started there by this code.
 */
export function teardownHosts(tag?: string): { namespaces: string[]; links: string[]; processes: number } {
  const prefix = tag ? `cbdc-${tag}` : 'cbdc-';
  const namespaces = ip('netns', 'list')
    .split('\n')
    .map((line) => line.split(' ')[0])
    .filter((name) => name.startsWith(prefix) && (tag === undefined || name === `cbdc-${tag}` || name.startsWith(`cbdc-${tag}-`)));
  let processes = 0;
  for (const ns of namespaces) {
    const pids = ip('netns', 'pids', ns).split('\n').filter(Boolean).map(Number);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        processes++;
      } catch {
        // gone already
      }
    }
  }
  for (const ns of namespaces) {
    try {
      ip('netns', 'del', ns);
    } catch {
      // removed meanwhile
    }
  }
  const links = ip('-o', 'link', 'show')
    .split('\n')
    .map((line) => /^\d+:\s+([^:@]+)/.exec(line)?.[1] ?? '')
    .filter((name) => name.startsWith(tag ? `cbdc-${tag}` : 'cbdc-') && (tag === undefined || name === `cbdc-${tag}br` || /^cbdc-[a-z0-9]+v\d+$/.test(name) || name.startsWith(`cbdc-${tag}`)));
  for (const link of links) {
    try {
      ip('link', 'del', link);
    } catch {
      // a veth end goes with its peer's namespace
    }
  }
  return { namespaces, links, processes };
}

/** Whether this kernel has tc netem (a firecracker or minimal kernel may lack sch_netem). */
export function netemAvailable(network: HostNetwork): boolean {
  const [any] = network.hosts.values();
  try {
    run([], ['tc', '-n', any.ns, 'qdisc', 'replace', 'dev', 'eth0', 'root', 'netem', 'delay', '0ms']);
    run([], ['tc', '-n', any.ns, 'qdisc', 'del', 'dev', 'eth0', 'root']);
    return true;
  } catch {
    return false;
  }
}
