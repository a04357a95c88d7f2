-- Least privilege: each service connects with its own role, holding only what it needs. Applied
-- after every migration (packages/db/src/roles.ts), idempotently: the roles are created if
-- missing, every grant on this database is revoked, then granted again from this file, so this
-- file alone says who may write what. Roles are cluster-wide; the grants are per database.
--
--   cbdc_gateway     banks' API: opens wallets, changes their bank-side status, tier and customer
--                    key (each with its registry event); never a balance, a transfer row, a
--                    settlement or issuance chain, an owner, or a bank's or operator's key
--   cbdc_settlement  the ledger: transfer rows, legs, batches, shard heads, balances
--   cbdc_issuer      the central bank: banks, reserves, issuance chain, treasury balances, freezes
--   cbdc_webhooks    event delivery (docs/events.md): its cursors and dead letters, and pruning
--                    events past their retention; never an event, a balance or an endpoint
--   cbdc_auditor     reads everything, writes nothing (`cbdc audit`)
do $$
declare r text;
begin
  foreach r in array array['cbdc_gateway', 'cbdc_settlement', 'cbdc_issuer', 'cbdc_auditor', 'cbdc_webhooks'] loop
    begin
      execute format('create role %I login', r);
    exception when duplicate_object or unique_violation then null; -- another database created it first
    end;
  end loop;
end $$;

revoke all on all tables in schema public from cbdc_gateway, cbdc_settlement, cbdc_issuer, cbdc_auditor, cbdc_webhooks;
revoke all on all sequences in schema public from cbdc_gateway, cbdc_settlement, cbdc_issuer, cbdc_auditor, cbdc_webhooks;

grant select on all tables in schema public to cbdc_auditor, cbdc_gateway, cbdc_settlement, cbdc_issuer, cbdc_webhooks;

-- The gateway: wallets it opens (never a balance), their bank-side status, its idempotency records,
-- and the shard's wallets version (bumped with any write to a shard's wallets, see shard-lock.ts).
grant insert on wallets to cbdc_gateway;
grant update (status, updated_at, bank_frozen_by, bank_freeze_reason, bank_frozen_at) on wallets to cbdc_gateway;
-- A bank's tier changes and key replacements (docs/registry.md: each row change has its chained event).
grant update (tier, public_key) on wallets to cbdc_gateway;
grant insert on wallet_freeze_events to cbdc_gateway;
grant usage on sequence wallet_freeze_events_id_seq to cbdc_gateway;
grant update (wallets_version) on shards to cbdc_gateway;
grant insert, update, delete on idempotency_keys, request_nonces to cbdc_gateway;
grant insert on ledger_settings to cbdc_gateway;
-- The registry: the events of the wallets it opens and changes (chained per bank, see docs/registry.md).
grant insert on registry_events, registry_heads to cbdc_gateway;
grant update (seq, hash) on registry_heads to cbdc_gateway;
-- Payment requests its banks create and cancel; never paid (settlement marks a request paid).
grant insert on payment_requests to cbdc_gateway;
grant update (status, cancelled_at_ms) on payment_requests to cbdc_gateway;
-- The banks' events of the wallet changes it makes (tier, key); which types, row-level security
-- decides below: outcomes of payments come from settlement only.
grant insert on events, event_heads to cbdc_gateway;
grant update (seq) on event_heads to cbdc_gateway;
-- Webhook endpoints a bank manages (central database; secrets arrive sealed, see 00011_webhooks),
-- and a bank's request to redeliver one of its dead letters (status only).
grant insert, update, delete on webhook_endpoints to cbdc_gateway;
grant update (status, redelivery_requested_at_ms) on webhook_dead_letters to cbdc_gateway;

-- Settlement: the ledger of its shards.
grant insert on transfers, transfer_legs, settlement_batches to cbdc_settlement;
grant update (status, code) on transfers to cbdc_settlement;
grant insert on shards to cbdc_settlement;
grant update (head_seq, head_hash, wallets_version) on shards to cbdc_settlement;
grant update (balance_minor, daily_spent_minor, daily_spent_day, in_flight_out_minor, updated_at) on wallets to cbdc_settlement;
-- Holds of its shards (placed, refused, closed once) and the money they set aside.
grant update (held_minor) on wallets to cbdc_settlement;
grant insert on holds to cbdc_settlement;
grant update (status, captured_minor, capture_leg_status, capture_status, capture_code, closed_by, closing_bank_id, closing_request, closing_signature, closed_batch_seq, closed_leaf_index, closed_at_ms) on holds to cbdc_settlement;
grant usage on sequence holds_row_no_seq to cbdc_settlement;
grant insert on ledger_settings to cbdc_settlement;
grant usage on sequence transfers_row_no_seq to cbdc_settlement;
-- The banks' events of the batches it commits (docs/events.md): outcomes come from settlement only.
grant insert on events, event_heads to cbdc_settlement;
grant update (seq) on event_heads to cbdc_settlement;
-- A payment request paid by a transfer of the batch (checked and marked at the payee's shard).
grant update (status, paid_by_transfer_id, paid_at_ms) on payment_requests to cbdc_settlement;

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

-- Row-level security on the banks' events: the grants above say who may insert at all, these
-- policies which rows. The gateway may insert only the wallet events it causes; settlement and the
-- issuer any type; every role reads (the feed, the audit). Deleting stays governed by grants alone
-- (retention pruning), so its policy passes every row. The table's owner (migrations) is not bound.
alter table events enable row level security;
drop policy if exists events_read on events;
create policy events_read on events for select using (true);
drop policy if exists events_delete on events;
create policy events_delete on events for delete using (true);
drop policy if exists events_ledger on events;
create policy events_ledger on events for insert to cbdc_settlement, cbdc_issuer with check (true);
drop policy if exists events_gateway on events;
create policy events_gateway on events for insert to cbdc_gateway with check (type in ('wallet.tier_changed', 'wallet.key_replaced'));
-- Event delivery: its own cursors and dead letters, and retention (a prefix of each bank's events
-- per shard, recorded in event_retention). It reads endpoints and events, never writes one.
grant insert, update, delete on webhook_cursors, webhook_dead_letters to cbdc_webhooks;
grant delete on events to cbdc_webhooks;
grant insert, update on event_retention to cbdc_webhooks;
