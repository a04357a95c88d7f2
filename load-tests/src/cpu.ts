/** CPU time of processes, from /proc, to turn measured rates into per-core figures. */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the command.
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

function pidsOf(name: string): number[] {
  try {
    return execFileSync('pgrep', ['-x', name], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The direct children of a process (none if it has none or is gone). */
export function childPids(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return []; // pgrep exits 1 when there are none.
  }
}

interface ProcEntry {
  ppid: number;
  cpuSeconds: number;
}

/** Every process of the machine with its parent and CPU seconds: one pass over /proc. */
function processTable(): Map<number, ProcEntry> {
  const table = new Map<number, ProcEntry>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const fields = readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1].split(' ');
      // After the command: state, ppid (field 4 of the line), ..., utime and stime (14 and 15).
      table.set(Number(name), { ppid: Number(fields[1]), cpuSeconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND });
    } catch {
      // gone meanwhile
    }
  }
  return table;
}

/** A process and its descendants (a service that runs several processes, such as a clustered gateway; a Postgres server). */
function treeOf(pid: number, table: Map<number, ProcEntry>): number[] {
  const children = new Map<number, number[]>();
  for (const [p, e] of table) children.set(e.ppid, [...(children.get(e.ppid) ?? []), p]);
  const tree = table.has(pid) ? [pid] : [];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]) ?? []));
  return tree;
}

export type CpuSnapshot = Record<string, number>;

/**
 * CPU seconds used so far by the named processes with their descendants (a Postgres server is its
 * postmaster's tree: every backend and background process is a child of it), and by this process
 * as `bench`. A descendant that exits between two snapshots is not counted.
 */
export function treeCpuSnapshot(pids: Record<string, number>): CpuSnapshot {
  const snap: CpuSnapshot = {};
  const table = processTable();
  for (const [label, pid] of Object.entries(pids)) snap[label] = treeOf(pid, table).reduce((a, p) => a + (table.get(p)?.cpuSeconds ?? 0), 0);
  snap.bench = process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6;
  return snap;
}

/**
 * As `treeCpuSnapshot`, and by all postgres and redis-server processes of the machine (the
 * single-server bench runs on the machine's own servers).
 */
export function cpuSnapshot(pids: Record<string, number>): CpuSnapshot {
  const snap = treeCpuSnapshot(pids);
  snap.postgres = pidsOf('postgres').reduce((a, p) => a + cpuSeconds(p), 0);
  snap.redis = pidsOf('redis-server').reduce((a, p) => a + cpuSeconds(p), 0);
  return snap;
}

export function cpuDelta(a: CpuSnapshot, b: CpuSnapshot): CpuSnapshot {
  return Object.fromEntries(Object.keys(b).map((k) => [k, Math.max(0, b[k] - (a[k] ?? 0))]));
}
