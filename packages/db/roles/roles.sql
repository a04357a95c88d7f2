-- Least privilege: each service connects with its own role, holding only what it needs. Applied
-- after every migration (packages/db/src/roles.ts), idempotently: the roles are created if
-- missing, every grant on this database is revoked, then granted again from this file, so this
-- file alone says who may write what. Roles are cluster-wide; the grants are per database.
--
--   cbdc_gateway     banks' API: opens wallets and changes their bank-side status; never a balance,
--                    a transfer row, a chain or a key of anyone but a new wallet's
--   cbdc_settlement  the ledger: transfer rows, legs, batches, shard heads, balances
--   cbdc_issuer      the central bank: banks, reserves, issuance chain, treasury balances, freezes
--   cbdc_auditor     reads everything, writes nothing (`cbdc audit`)
do $$
declare r text;
begin
  foreach r in array array['cbdc_gateway', 'cbdc_settlement', 'cbdc_issuer', 'cbdc_auditor'] loop
    begin
      execute format('create role %I login', r);
    exception when duplicate_object or unique_violation then null; -- another database created it first
    end;
  end loop;
end $$;

revoke all on all tables in schema public from cbdc_gateway, cbdc_settlement, cbdc_issuer, cbdc_auditor;
revoke all on all sequences in schema public from cbdc_gateway, cbdc_settlement, cbdc_issuer, cbdc_auditor;

grant select on all tables in schema public to cbdc_auditor, cbdc_gateway, cbdc_settlement, cbdc_issuer;

-- The gateway: wallets it opens (never a balance), their bank-side status, its idempotency records,
-- and the shard's wallets version (bumped with any write to a shard's wallets, see shard-lock.ts).
grant insert on wallets to cbdc_gateway;
grant update (status, updated_at, bank_frozen_by, bank_freeze_reason, bank_frozen_at) on wallets to cbdc_gateway;
grant insert on wallet_freeze_events to cbdc_gateway;
grant usage on sequence wallet_freeze_events_id_seq to cbdc_gateway;
grant update (wallets_version) on shards to cbdc_gateway;
grant insert, update, delete on idempotency_keys, request_nonces to cbdc_gateway;
grant insert on ledger_settings to cbdc_gateway;
-- The registry: the events of the wallets it opens and changes (chained per bank, see docs/registry.md).
grant insert on registry_events, registry_heads to cbdc_gateway;
grant update (seq, hash) on registry_heads to cbdc_gateway;

-- Settlement: the ledger of its shards.
grant insert on transfers, transfer_legs, settlement_batches to cbdc_settlement;
grant update (status, code) on transfers to cbdc_settlement;
grant insert on shards to cbdc_settlement;
grant update (head_seq, head_hash, wallets_version) on shards to cbdc_settlement;
grant update (balance_minor, daily_spent_minor, daily_spent_day, in_flight_out_minor, updated_at) on wallets to cbdc_settlement;
grant insert on ledger_settings to cbdc_settlement;
grant usage on sequence transfers_row_no_seq to cbdc_settlement;
-- The banks' events of the batches it commits (docs/events.md): outcomes come from settlement only.
grant insert on events, event_heads to cbdc_settlement;
grant update (seq) on event_heads to cbdc_settlement;

-- The issuer: banks and operators, reserves, issuance, treasury wallets, central-bank freezes.
grant insert on operators, banks, bank_reserves, reserve_entries, issuance_requests, issuance_chain to cbdc_issuer;
grant update on bank_reserves, issuance_requests, issuance_head to cbdc_issuer;
grant insert on wallets to cbdc_issuer;
grant update (balance_minor, status, updated_at, central_frozen_by, central_freeze_reason, central_freeze_reference, central_frozen_at) on wallets to cbdc_issuer;
grant insert on wallet_freeze_events, operator_actions to cbdc_issuer;
-- The treasury side of a mint or retire, in the treasury's shard group (written once, never updated).
grant insert on issuance_legs to cbdc_issuer;
grant usage on sequence issuance_legs_leg_no_seq to cbdc_issuer;
grant update (approved_by, status, executed_at) on operator_actions to cbdc_issuer;
grant update (public_key, action_id) on operators to cbdc_issuer;
grant usage on sequence wallet_freeze_events_id_seq to cbdc_issuer;
grant update (wallets_version) on shards to cbdc_issuer;
grant insert, update, delete on idempotency_keys, request_nonces to cbdc_issuer;
grant insert on ledger_settings to cbdc_issuer;
grant usage on sequence reserve_entries_id_seq to cbdc_issuer;
grant insert on registry_events, registry_heads to cbdc_issuer;
grant update (seq, hash) on registry_heads to cbdc_issuer;
-- The banks' events of central-bank freezes and of mints and retires into their treasuries.
grant insert on events, event_heads to cbdc_issuer;
grant update (seq) on event_heads to cbdc_issuer;
