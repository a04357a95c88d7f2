import { describe, expect, it } from 'vitest';
import { groupOfShard, parseShardDatabases } from './topology.js';

const central = 'postgres://u@central:5432/cbdc';

describe('parseShardDatabases', () => {
  it('puts every shard in the central database when unset', () => {
    expect(parseShardDatabases(undefined, 3, central)).toEqual([{ id: 0, shards: [0, 1, 2], url: central }]);
    expect(parseShardDatabases('  ', 2, central)).toEqual([{ id: 0, shards: [0, 1], url: central }]);
  });

  it('reads groups of lists and ranges, with multi-host URLs', () => {
    const groups = parseShardDatabases('0-1,4=postgres://a:1,b:2/g0?target_session_attrs=read-write; 2-3,5=postgres://c/g1', 6, central);
    expect(groups).toEqual([
      { id: 0, shards: [0, 1, 4], url: 'postgres://a:1,b:2/g0?target_session_attrs=read-write' },
      { id: 1, shards: [2, 3, 5], url: 'postgres://c/g1' },
    ]);
    expect(groupOfShard(groups, 5).id).toBe(1);
  });

  it.each([
    ['0=postgres://a/x;0-1=postgres://b/y', 2, /shard 0 is in groups 1 and 2/],
    ['0=postgres://a/x', 2, /shard\(s\) 1 of 2 are in no group/],
    ['0-2=postgres://a/x', 2, /shard 2 does not exist/],
    ['1-0=postgres://a/x', 2, /runs backwards/],
    ['x=postgres://a/x', 1, /"x" is not a shard number/],
    ['0=mysql://a/x', 1, /must start with postgres:\/\//],
    ['postgres://a/x', 1, /must be "<shards>=<postgres url>"/],
  ])('refuses %s', (text, count, rule) => {
    expect(() => parseShardDatabases(text, count, central)).toThrow(rule);
  });

  it('names the variable and hides passwords', () => {
    expect(() => parseShardDatabases('postgres://u:secret@a/x', 1, central)).toThrow(/^invalid configuration: SHARD_DATABASES: .*\/\/…@a\/x/);
  });
});
