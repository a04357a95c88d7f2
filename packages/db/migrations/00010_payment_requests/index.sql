-- Payment requests (pull payments, docs/api.md "Payment requests"). A payee's bank creates one for
-- its customer wallet; the payer's customer signs a transfer naming it (canonical encoding v2).
-- A request lives in the database of its payee wallet's shard, beside that wallet: settlement
-- checks it and marks it paid there, in the batch's transaction, under the shard's head lock; a
-- cancellation takes the same lock (@cbdc/db/shard-lock). So a request is paid at most once.
create table payment_requests (
  id                   text primary key check (id ~ '^pr_[0-9a-f]{32}$'),
  bank_id              text not null,
  payee_wallet_id      text not null references wallets(id),
  shard                integer not null check (shard >= 0),
  -- The fixed amount, or null: the payer chooses (at least 1 fen, within the caps).
  amount_minor         bigint check (amount_minor is null or amount_minor > 0),
  expires_at_ms        bigint not null check (expires_at_ms >= 0),
  reference            text not null,
  status               text not null default 'open' check (status in ('open', 'paid', 'cancelled')),
  created_at_ms        bigint not null,
  -- The transfer that paid it (its id is the hash of the v2 bytes that name this request), and when.
  paid_by_transfer_id  text,
  paid_at_ms           bigint,
  cancelled_at_ms      bigint,
  check ((status = 'paid') = (paid_by_transfer_id is not null and paid_at_ms is not null)),
  check ((status = 'cancelled') = (cancelled_at_ms is not null)),
  check (paid_by_transfer_id is null or status = 'paid')
);
-- One transfer pays one request at most, and a request is paid by one transfer (its row).
create unique index payment_requests_paid_by on payment_requests (paid_by_transfer_id) where paid_by_transfer_id is not null;
create index payment_requests_payee on payment_requests (payee_wallet_id, created_at_ms);

-- The request a transfer pays, at the payer's shard (the row it signed; null for v1 transfers). The
-- sweeper resends a credit with it, and the audit verifies the signature over the v2 bytes.
alter table transfers add column request_id text check (request_id is null or request_id ~ '^pr_[0-9a-f]{32}$');
create index transfers_request on transfers (request_id) where request_id is not null;
