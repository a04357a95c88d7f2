/**
 * The servers of a multi-server benchmark: the central Postgres, one Postgres per shard group and a
 * Redis, each a process of its own. `startHosts` is the one place that decides where they run:
 * today on this machine's loopback (initdb on free ports, test/faults/support/servers.ts); when
 * the network-namespace hosts of infra/cluster/ exist, this function is what switches to them
 * (their addresses instead of 127.0.0.1, their pids still on this machine for CPU accounting).
 */
import { startOwnPostgres, startOwnRedis, type OwnPostgres, type OwnRedis } from '../../test/faults/support/servers.js';

export interface Hosts {
  /** The central server's admin URL (banks, operators, reserves, issuance). */
  centralAdminUrl: string;
  /** Each shard group's server's admin URL, group 0 first. */
  groupAdminUrls: string[];
  redisUrl: string;
  /** The process whose tree is each server, by label ("postgres-central", "postgres-g0", "redis"). */
  pids(): Record<string, number>;
  stop(): Promise<void>;
}

export interface HostsOptions {
  groups: number;
  /** Postgres settings on every server, over test/faults/support/servers.ts's defaults. */
  postgresSettings?: Record<string, string>;
}

/** Starts the central Postgres, `groups` shard-group Postgres servers and a Redis, in parallel. */
export async function startHosts(o: HostsOptions): Promise<Hosts> {
  const started: Array<OwnPostgres | OwnRedis> = [];
  const track = async <T extends OwnPostgres | OwnRedis>(p: Promise<T>): Promise<T> => {
    const server = await p;
    started.push(server);
    return server;
  };
  // If the bench dies (Ctrl-C, a timeout), its servers go with it: each is a process group of its own.
  const killAll = () => {
    for (const server of started) {
      const pid = server.pid();
      if (pid !== null) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    }
  };
  process.once('exit', killAll);
  const stop = async () => {
    process.removeListener('exit', killAll);
    await Promise.all(started.map((s) => s.stop().catch(() => {})));
  };
  try {
    const [central, redis, ...groups] = await Promise.all([
      track(startOwnPostgres({ settings: o.postgresSettings })),
      // As this machine's own Redis runs (no append-only file): the single-server bench's setting.
      track(startOwnRedis({ appendfsync: 'no-aof' })),
      ...Array.from({ length: o.groups }, () => track(startOwnPostgres({ settings: o.postgresSettings }))),
    ]);
    const pgCentral = central as OwnPostgres;
    const pgGroups = groups as OwnPostgres[];
    const ownRedis = redis as OwnRedis;
    return {
      centralAdminUrl: pgCentral.adminUrl,
      groupAdminUrls: pgGroups.map((g) => g.adminUrl),
      redisUrl: ownRedis.url,
      pids() {
        const all: Record<string, number | null> = { 'postgres-central': pgCentral.pid(), redis: ownRedis.pid() };
        pgGroups.forEach((g, i) => (all[`postgres-g${i}`] = g.pid()));
        return Object.fromEntries(Object.entries(all).filter((e): e is [string, number] => e[1] !== null));
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
