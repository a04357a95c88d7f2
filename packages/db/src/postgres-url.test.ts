import { describe, expect, it } from 'vitest';
import { databaseOf, editPostgresUrl, parsePostgresUrl, withSingleHost } from './postgres-url.js';

describe('database URLs naming several servers', () => {
  const pair = 'postgres://cbdc:s3cret@198.18.0.11:5432,198.18.0.12:5433/cbdc?target_session_attrs=read-write';

  it.each([
    ['postgres://postgres@127.0.0.1:5432/cbdc', [{ host: '127.0.0.1', port: 5432 }], null],
    [
      'postgres://u@h1,h2:6000/db',
      [
        { host: 'h1', port: 5432 },
        { host: 'h2', port: 6000 },
      ],
      null,
    ],
    [
      pair,
      [
        { host: '198.18.0.11', port: 5432 },
        { host: '198.18.0.12', port: 5433 },
      ],
      'read-write',
    ],
    ['postgres://u@[::1]:5433/db?target_session_attrs=primary', [{ host: '::1', port: 5433 }], 'primary'],
  ])('parses %s', (url, hosts, target) => {
    expect(parsePostgresUrl(url)).toEqual({ hosts, targetSessionAttrs: target });
  });

  it('edits user, password and database, keeping the host list and the query', () => {
    const edited = editPostgresUrl(pair, (u) => {
      u.username = 'cbdc_settlement';
      u.password = '';
      u.pathname = '/other';
    });
    expect(edited).toBe('postgres://cbdc_settlement@198.18.0.11:5432,198.18.0.12:5433/other?target_session_attrs=read-write');
    expect(databaseOf(pair)).toBe('cbdc');
  });

  it('refuses an edit that would change the host', () => {
    expect(() => editPostgresUrl(pair, (u) => void (u.hostname = 'elsewhere'))).toThrow(/host/);
  });

  it('names one server of the list', () => {
    expect(withSingleHost(pair, { host: '198.18.0.12', port: 5433 })).toBe('postgres://cbdc:s3cret@198.18.0.12:5433/cbdc?target_session_attrs=read-write');
  });
});
