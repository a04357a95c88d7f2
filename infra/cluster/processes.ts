/**
 * Starting and stopping server processes (Postgres, Redis, the services) on this machine, each
 * optionally inside a network namespace: a command prefix such as `['ip', 'netns', 'exec', ns]`
 * goes in front of the command. `ip netns exec` and `setpriv` both exec, so the pid we hold is the
 * server's own; each server is its own process group, so that a kill takes it and all its children
 * at once, as a crash would.
 */
import { execFileSync, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** A command prefix: where a process runs (nothing: this namespace; `ip netns exec <ns>`: a host). */
export type CommandPrefix = string[];

/** The directory of the PostgreSQL server binaries (initdb, postgres, pg_ctl, pg_basebackup). */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length && existsSync(join(root, versions[0], 'bin', 'postgres'))) return join(root, versions[0], 'bin');
  try {
    return execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('no PostgreSQL server binaries found (nothing in /usr/lib/postgresql, pg_config not on PATH); run scripts/setup.sh');
  }
}

export const runningAsRoot = process.getuid?.() === 0;

/** The command line that runs `argv` as the postgres user when we are root (Postgres refuses root). */
export function asPostgresUser(argv: string[]): string[] {
  return runningAsRoot ? ['setpriv', '--reuid=postgres', '--regid=postgres', '--init-groups', '--', ...argv] : argv;
}

/** The postgres user's uid and gid (to hand it a data directory). */
export function postgresUserIds(): { uid: number; gid: number } {
  return { uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })) };
}

/** Runs a command to completion (behind `prefix`), throwing with its stderr when it fails. */
export function run(prefix: CommandPrefix, argv: string[], options: { timeoutMs?: number } = {}): string {
  const [cmd, ...args] = [...prefix, ...argv];
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: options.timeoutMs ?? 60_000 });
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`${[cmd, ...args].join(' ')}: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

/** Starts a long-running server behind `prefix`, in a process group of its own. */
export function startDetached(prefix: CommandPrefix, argv: string[], options: { env?: NodeJS.ProcessEnv; stdio?: StdioOptions; cwd?: string } = {}): ChildProcess {
  const [cmd, ...args] = [...prefix, ...argv];
  const child = spawn(cmd, args, { detached: true, stdio: options.stdio ?? 'ignore', env: options.env ?? process.env, cwd: options.cwd });
  child.on('error', () => {});
  return child;
}

/** Polls `check` every 100 ms until it holds; throws after `timeoutMs`. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not come up within ${timeoutMs} ms`);
}

/** Sends `signal` to a child's whole process group and waits for the child to exit. */
export function killGroup(child: ChildProcess | null | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    process.kill(-child.pid!, signal);
  } catch {
    child.kill(signal);
  }
  return exited;
}

/** Sends `signal` to a process group by its leader's pid (a process started by an earlier run); false if it is gone. */
export function killGroupByPid(pid: number, signal: NodeJS.Signals = 'SIGKILL'): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

/** Whether a process with this pid is alive. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
