/**
 * Least privilege in Postgres: the role each service connects with, and the grants that bound it
 * (roles/roles.sql, applied after every migration). A compromised gateway's connection cannot
 * update a balance or write a transfer row; only settlement writes the ledger; only the issuer
 * writes the issuance chain.
 */
import { readFileSync } from 'node:fs';
import type { Sql } from './connect.js';
import { editPostgresUrl } from './postgres-url.js';

export const SERVICE_ROLES = { gateway: 'cbdc_gateway', settlement: 'cbdc_settlement', issuer: 'cbdc_issuer', auditor: 'cbdc_auditor', webhooks: 'cbdc_webhooks' } as const;
export type ServiceName = keyof typeof SERVICE_ROLES;

const ROLES_SQL = readFileSync(new URL('../roles/roles.sql', import.meta.url), 'utf8');

/** Creates the service roles if missing and sets their grants on this database (idempotent). */
export async function applyRoles(sql: Sql): Promise<void> {
  await sql.unsafe(ROLES_SQL);
}

/** `url` with the user replaced by the service's role (local trust or a deployment's own password). */
export function urlForService(url: string, service: ServiceName): string {
  return editPostgresUrl(url, (u) => {
    u.username = SERVICE_ROLES[service];
    u.password = '';
  });
}
