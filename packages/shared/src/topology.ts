/**
 * Where each shard's ledger lives: the mapping of shards to Postgres servers ("shard groups").
 *
 * The central database holds what the issuer owns (operators, banks, reserves, the issuance chain,
 * the central registry chain, operator actions). Each shard-group database holds the ledger of its
 * shards: their wallets, transfers, legs, batches, registry chains and freeze events. Every database
 * has the same schema; which rows live where is decided here. Nothing spans two servers in one
 * transaction.
 *
 * The configuration is one string, `SHARD_DATABASES`: groups separated by ";", each
 * "<shards>=<url>", where <shards> is a list of shard numbers and ranges ("0-3", "0,2,4-5"). A URL
 * may name several hosts (a primary and its standbys), so groups are separated by ";" and not by
 * ",". Unset, every shard lives in the central database: today's one-database deployment.
 */

export interface ShardGroupSpec {
  /** 0, 1, ... in configuration order. */
  id: number;
  /** Ascending. */
  shards: readonly number[];
  url: string;
}

/** Parses SHARD_DATABASES; throws an Error naming the variable and the rule it breaks. */
export function parseShardDatabases(text: string | undefined, shardCount: number, centralUrl: string): ShardGroupSpec[] {
  const all = Array.from({ length: shardCount }, (_, i) => i);
  if (text === undefined || text.trim() === '') return [{ id: 0, shards: all, url: centralUrl }];
  const owner = new Map<number, number>();
  const groups = text
    .split(';')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part, id) => {
      const eq = part.indexOf('=');
      if (eq <= 0) throw badConfig(`group ${id + 1} ("${redact(part)}") must be "<shards>=<postgres url>"`);
      const shards = parseShardList(part.slice(0, eq), shardCount, id + 1);
      const url = part.slice(eq + 1).trim();
      if (!/^postgres(ql)?:\/\//.test(url)) throw badConfig(`group ${id + 1}: the URL must start with postgres://`);
      for (const s of shards) {
        if (owner.has(s)) throw badConfig(`shard ${s} is in groups ${owner.get(s)! + 1} and ${id + 1}`);
        owner.set(s, id);
      }
      return { id, shards, url };
    });
  const missing = all.filter((s) => !owner.has(s));
  if (missing.length > 0) throw badConfig(`shard(s) ${missing.join(',')} of ${shardCount} are in no group`);
  return groups;
}

function parseShardList(text: string, shardCount: number, group: number): number[] {
  const out = new Set<number>();
  for (const item of text.split(',').map((s) => s.trim())) {
    const m = /^(\d{1,4})(?:-(\d{1,4}))?$/.exec(item);
    if (!m) throw badConfig(`group ${group}: "${item}" is not a shard number or range like 0-3`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) throw badConfig(`group ${group}: range ${item} runs backwards`);
    if (to >= shardCount) throw badConfig(`group ${group}: shard ${to} does not exist (SETTLEMENT_SHARDS=${shardCount})`);
    for (let s = from; s <= to; s++) out.add(s);
  }
  return [...out].sort((a, b) => a - b);
}

/** The group that holds `shard`. */
export function groupOfShard(groups: readonly ShardGroupSpec[], shard: number): ShardGroupSpec {
  const group = groups.find((g) => g.shards.includes(shard));
  if (!group) throw new Error(`shard ${shard} is in no shard group`);
  return group;
}

const badConfig = (rule: string) => new Error(`invalid configuration: SHARD_DATABASES: ${rule}`);
const redact = (s: string) => s.replace(/\/\/[^@/]*@/, '//…@');
