-- Holds (conditional payments, docs/architecture.md "Holds"): a customer-signed hold sets money of
-- the payer aside (`wallets.held_minor`) until a capture by the payee's bank, a void by the payer's
-- bank, or its expiry closes it. Written by the settlement worker of the payer's shard only, under
-- its head lock, in the database of that shard: the row is placed (or refused) with a leaf of its
-- batch, and closed once with a leaf of the batch that closes it. A capture whose payee lives on
-- another shard travels like a transfer between shards: its credit and any refund are rows of
-- transfer_legs under the hold's id, and `capture_status` is `in_flight` until the credit result.

-- Money set aside by the wallet's open holds: counted by the conservation law beside balances.
alter table wallets add column held_minor bigint not null default 0 check (held_minor >= 0);

create table holds (
  id                  text primary key,
  -- Insertion order, for listings.
  row_no              bigserial not null,
  -- The payer's bank, which submitted it.
  bank_id             text not null,
  payer_wallet_id     text not null,
  payee_wallet_id     text not null,
  -- The payee's bank as recorded with the payee wallet when the hold was placed (its bank captures).
  payee_bank_id       text,
  amount_minor        bigint not null check (amount_minor > 0),
  nonce               bigint not null,
  -- The signature's expiry, and the hold's.
  expires_at_ms       bigint not null,
  hold_expires_at_ms  bigint not null,
  memo                text not null default '',
  signature           bytea not null,
  status              text not null check (status in ('open', 'captured', 'voided', 'expired', 'rejected')),
  -- Why the hold was refused (rejected only).
  code                text,
  shard               integer not null,
  batch_seq           bigint not null,
  leaf_index          integer not null,
  submitted_at_ms     bigint not null,
  placed_at_ms        bigint not null,
  -- How it closed: the amount captured, where the captured money went in the closing batch
  -- (`capture_leg_status`, what its leaf committed to, never changes) and where it is now.
  captured_minor      bigint check (captured_minor > 0 and captured_minor <= amount_minor),
  capture_leg_status  text check (capture_leg_status in ('settled', 'rejected', 'debited')),
  capture_status      text check (capture_status in ('settled', 'rejected', 'in_flight')),
  capture_code        text,
  -- The capture or void that closed it (holdActionIdOf(bank, Idempotency-Key)), with the bank's
  -- signed request (its signature apart, as a funding's); null for an expiry.
  closed_by           text,
  closing_bank_id     text,
  closing_request     jsonb,
  closing_signature   bytea,
  closed_batch_seq    bigint,
  closed_leaf_index   integer,
  closed_at_ms        bigint,
  check ((status = 'rejected') = (code is not null)),
  check ((status in ('open', 'rejected')) = (closed_batch_seq is null)),
  check ((closed_batch_seq is null) = (closed_leaf_index is null) and (closed_batch_seq is null) = (closed_at_ms is null)),
  check ((status = 'captured') = (captured_minor is not null and capture_leg_status is not null and capture_status is not null)),
  check (status in ('captured', 'voided') = (closed_by is not null and closing_bank_id is not null and closing_request is not null and closing_signature is not null)),
  check ((capture_status = 'rejected') = (capture_code is not null)),
  check (capture_leg_status is null or capture_leg_status = 'debited' or capture_leg_status = capture_status),
  unique (shard, batch_seq, leaf_index),
  unique (shard, closed_batch_seq, closed_leaf_index)
);
-- The payer's nonces, shared with its transfers (settlement checks both tables; see store.ts).
create unique index holds_payer_nonce on holds (payer_wallet_id, nonce) where code is distinct from 'nonce_reused';
-- The expiry sweep: open holds by expiry, per shard.
create index holds_open_expiry on holds (shard, hold_expires_at_ms) where status = 'open';
-- Captures in flight between shards (their credits are sent again by the sweeper).
create index holds_capture_in_flight on holds (shard, closed_at_ms) where capture_status = 'in_flight';
create index holds_payer on holds (payer_wallet_id, row_no);
create index holds_payee on holds (payee_wallet_id, row_no);
