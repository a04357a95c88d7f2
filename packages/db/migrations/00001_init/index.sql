-- Schema of the two-tier ledger. Amounts are bigint fen; hashes and keys are bytea.
-- Row locks serialise writers. A shard's wallet rows are written only under its shard head lock
-- (the settlement worker holds it for a whole batch; the issuer and wallet status changes take
-- it too). Lock order everywhere: issuance head, shard head, bank reserve, wallet.

create table operators (
  id          text primary key,
  name        text not null,
  public_key  bytea not null check (length(public_key) = 32),
  created_at  timestamptz not null default now()
);

create table banks (
  id                  text primary key,
  name                text not null,
  public_key          bytea not null check (length(public_key) = 32),
  treasury_wallet_id  text not null unique,
  created_by          text not null references operators(id),
  created_at          timestamptz not null default now()
);

-- A bank's reserve account at the central bank: free reserve not yet exchanged for currency.
create table bank_reserves (
  bank_id       text primary key references banks(id),
  free_minor    bigint not null default 0 check (free_minor >= 0),
  minted_minor  bigint not null default 0 check (minted_minor >= 0),
  retired_minor bigint not null default 0 check (retired_minor >= 0)
);

create table reserve_entries (
  id           bigserial primary key,
  bank_id      text not null references banks(id),
  kind         text not null check (kind in ('deposit', 'withdrawal')),
  amount_minor bigint not null check (amount_minor > 0),
  reference    text not null,
  operator_id  text not null references operators(id),
  created_at   timestamptz not null default now()
);

-- Mint and retire requests; those above the dual-control threshold wait for a second operator.
create table issuance_requests (
  id            text primary key,
  kind          text not null check (kind in ('mint', 'retire')),
  bank_id       text not null references banks(id),
  amount_minor  bigint not null check (amount_minor > 0),
  requested_by  text not null references operators(id),
  approved_by   text references operators(id),
  status        text not null check (status in ('pending_approval', 'executed')),
  chain_seq     bigint,
  created_at    timestamptz not null default now(),
  executed_at   timestamptz,
  check (approved_by is null or approved_by <> requested_by)
);

-- The issuance chain: one signed entry per mint or retire.
create table issuance_chain (
  seq                 bigint primary key check (seq >= 1),
  prev_hash           bytea not null,
  kind                text not null check (kind in ('mint', 'retire')),
  bank_id             text not null references banks(id),
  amount_minor        bigint not null check (amount_minor > 0),
  supply_after_minor  bigint not null check (supply_after_minor >= 0),
  time_ms             bigint not null,
  hash                bytea not null,
  signature           bytea not null,
  request_id          text not null unique references issuance_requests(id)
);

-- One row: the head of the issuance chain and the currency outstanding (= the backing pool).
create table issuance_head (
  singleton     boolean primary key default true check (singleton),
  seq           bigint not null default 0,
  hash          bytea not null default '\x0000000000000000000000000000000000000000000000000000000000000000',
  supply_minor  bigint not null default 0 check (supply_minor >= 0),
  public_key    bytea
);
insert into issuance_head default values;

create table wallets (
  id                  text primary key,
  bank_id             text not null references banks(id),
  shard               integer not null check (shard >= 0),
  kind                text not null check (kind in ('customer', 'treasury')),
  tier                text check (tier in ('I', 'II', 'III', 'IV')),
  public_key          bytea check (public_key is null or length(public_key) = 32),
  customer_ref        text,
  status              text not null default 'active' check (status in ('active', 'frozen', 'closed')),
  balance_minor       bigint not null default 0 check (balance_minor >= 0),
  daily_spent_minor   bigint not null default 0 check (daily_spent_minor >= 0),
  daily_spent_day     integer not null default 0,
  -- Debited from this wallet towards a payee on another shard, not yet credited nor refunded.
  in_flight_out_minor bigint not null default 0 check (in_flight_out_minor >= 0),
  created_at          timestamptz not null default now(),
  updated_at          timestamptz not null default now(),
  check ((kind = 'customer') = (tier is not null and public_key is not null))
) with (fillfactor = 70); -- room on each page for HOT updates: balances change, indexed columns never do
create index wallets_bank_id on wallets (bank_id, id);

-- Shards: the head of each settlement chain and the public key its batches are signed with.
create table shards (
  shard       integer primary key,
  public_key  bytea not null check (length(public_key) = 32),
  head_seq    bigint not null default 0,
  head_hash   bytea not null default '\x0000000000000000000000000000000000000000000000000000000000000000'
);

create table settlement_batches (
  shard           integer not null references shards(shard),
  seq             bigint not null check (seq >= 1),
  prev_hash       bytea not null,
  merkle_root     bytea not null,
  transfer_count  integer not null check (transfer_count >= 1),
  time_ms         bigint not null,
  hash            bytea not null,
  signature       bytea not null,
  primary key (shard, seq)
);

-- Every recorded transfer or funding, with its place in the payer shard's batch. `leg_status` is
-- what that batch committed to (settled, rejected, or debited towards another shard) and never
-- changes; `status` is the final outcome, `in_flight` until a cross-shard credit is answered.
create table transfers (
  id               text primary key,
  -- Insertion order, for history cursors (indexed with the wallet below, not alone).
  row_no           bigserial not null,
  kind             text not null check (kind in ('transfer', 'funding')),
  bank_id          text not null,
  payer_wallet_id  text not null,
  payee_wallet_id  text not null,
  amount_minor     bigint not null check (amount_minor > 0),
  nonce            bigint,
  expires_at_ms    bigint,
  memo             text not null default '',
  signature        bytea,
  leg_status       text not null check (leg_status in ('settled', 'rejected', 'debited')),
  status           text not null check (status in ('settled', 'rejected', 'in_flight')),
  code             text,
  shard            integer not null,
  batch_seq        bigint not null,
  leaf_index       integer not null,
  submitted_at_ms  bigint not null,
  settled_at_ms    bigint not null,
  check ((status = 'rejected') = (code is not null)),
  check (leg_status = 'debited' or leg_status = status),
  check ((kind = 'transfer') = (nonce is not null and signature is not null)),
  unique (shard, batch_seq, leaf_index)
);
-- A nonce is spent once per payer. Attempts to reuse it are recorded too (rejected as
-- nonce_reused), so they are left out of the uniqueness.
create unique index transfers_payer_nonce on transfers (payer_wallet_id, nonce) where nonce is not null and code is distinct from 'nonce_reused';
create index transfers_payer_history on transfers (payer_wallet_id, row_no);
create index transfers_payee_history on transfers (payee_wallet_id, row_no);
create index transfers_in_flight on transfers (shard, settled_at_ms) where status = 'in_flight';

-- The legs of cross-shard transfers: the credit at the payee's shard (applied or rejected) and,
-- after a rejected credit, the refund at the payer's shard. Leaves of their shard's batch.
create table transfer_legs (
  transfer_id    text not null,
  leg            text not null check (leg in ('credit', 'refund')),
  wallet_id      text not null,
  amount_minor   bigint not null check (amount_minor > 0),
  status         text not null check (status in ('applied', 'rejected')),
  code           text,
  from_shard     integer not null,
  shard          integer not null,
  batch_seq      bigint not null,
  leaf_index     integer not null,
  settled_at_ms  bigint not null,
  primary key (transfer_id, leg),
  unique (shard, batch_seq, leaf_index),
  check ((status = 'rejected') = (code is not null) or leg = 'refund')
);

-- Settings fixed when the ledger is created (the number of shards: wallets are placed by it).
create table ledger_settings (
  key    text primary key,
  value  text not null
);

-- Idempotency-Key records, scoped per caller (a bank or an operator).
create table idempotency_keys (
  scope         text not null,
  key           text not null,
  request_hash  bytea not null,
  status_code   integer,
  response      jsonb,
  created_at    timestamptz not null default now(),
  primary key (scope, key)
);
