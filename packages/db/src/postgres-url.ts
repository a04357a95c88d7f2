/**
 * Postgres connection URLs with one host or several (`postgres://u@h1:5432,h2:5433/db`), as libpq
 * and postgres.js accept them. WHATWG `URL` refuses a host list ("h1:5432,h2:5433" is not a port),
 * so every edit of a database URL goes through here: the host list is set aside, the rest is
 * parsed and edited as a URL, and the list is put back.
 */

export interface PostgresHost {
  host: string;
  port: number;
}

export interface ParsedPostgresUrl {
  hosts: PostgresHost[];
  /** The URL's `target_session_attrs`, if it names one. */
  targetSessionAttrs: string | null;
}

const PLACEHOLDER = 'cbdc-hosts.invalid';

/** Splits `scheme://userinfo@HOSTS/rest` into its parts; HOSTS may be a comma-separated list. */
function splitUrl(url: string): { head: string; hosts: string; tail: string } {
  const match = /^([a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?)([^/?#]*)(.*)$/i.exec(url);
  if (!match) throw new Error('not a postgres:// URL');
  return { head: match[1], hosts: match[2], tail: match[3] };
}

/** The hosts (in order) and the target_session_attrs of a database URL. */
export function parsePostgresUrl(url: string): ParsedPostgresUrl {
  const { hosts, tail } = splitUrl(url);
  const list = hosts.split(',').map((entry) => {
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    if (bracketed) return { host: bracketed[1], port: Number(bracketed[2] ?? 5432) };
    const [host, port] = entry.split(':');
    return { host: decodeURIComponent(host || 'localhost'), port: Number(port || 5432) };
  });
  const query = new URLSearchParams(tail.includes('?') ? tail.slice(tail.indexOf('?') + 1).split('#')[0] : '');
  return { hosts: list, targetSessionAttrs: query.get('target_session_attrs') };
}

/** `url` edited by `edit` (user, password, database, query), keeping its host list as it is. */
export function editPostgresUrl(url: string, edit: (u: URL) => void): string {
  const { head, hosts, tail } = splitUrl(url);
  const u = new URL(`${head}${PLACEHOLDER}${tail}`);
  edit(u);
  if (u.hostname !== PLACEHOLDER || u.port !== '') throw new Error('editPostgresUrl: the edit may not change the host');
  return u.toString().replace(PLACEHOLDER, hosts);
}

/** The same URL with one host instead of the list (for a connection to one server of a pair). */
export function withSingleHost(url: string, host: PostgresHost): string {
  const { head, tail } = splitUrl(url);
  const name = host.host.includes(':') ? `[${host.host}]` : host.host;
  return `${head}${name}:${host.port}${tail}`;
}

/** The database name of a URL. */
export function databaseOf(url: string): string {
  let name = '';
  editPostgresUrl(url, (u) => {
    name = decodeURIComponent(u.pathname.slice(1));
  });
  return name;
}

/** Whether `url` is a postgres:// URL with one host or a list of them (what DATABASE_URL may be). */
export function isPostgresUrl(url: string): boolean {
  try {
    const { hosts } = parsePostgresUrl(url);
    editPostgresUrl(url, () => {});
    return /^postgres(ql)?:\/\//i.test(url) && hosts.every((h) => h.host !== '' && Number.isInteger(h.port) && h.port > 0 && h.port < 65536);
  } catch {
    return false;
  }
}
