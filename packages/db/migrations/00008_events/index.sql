-- Events for banks (docs/events.md): an outbox written in the same transaction as the change it
-- reports, in the database of the shard where the change happens (a shard group's, or the one
-- database). Order is per bank and shard: `seq` counts a bank's events on one shard, assigned under
-- the shard's lock (every writer of a shard's wallets holds it, see @cbdc/db/shard-lock), so seqs
-- commit in order and a reader never sees seq n+1 before seq n. The feed merges a bank's shards.
create table event_heads (
  bank_id  text not null,
  shard    integer not null check (shard >= 0),
  seq      bigint not null check (seq >= 0),
  primary key (bank_id, shard)
);

create table events (
  bank_id       text not null,
  shard         integer not null check (shard >= 0),
  seq           bigint not null check (seq >= 1),
  type          text not null,
  -- What the event is about: a transfer, hold or payment request id, or a wallet id.
  subject_id    text not null,
  -- The bank's wallet the event concerns (payer, payee, holder, treasury), if any.
  wallet_id     text,
  amount_minor  bigint check (amount_minor >= 0),
  code          text,
  -- Small type-specific fields (the counterparty wallet, a tier, a reason), if any.
  data          jsonb,
  at_ms         bigint not null,
  primary key (bank_id, shard, seq)
);
-- Retention pruning, oldest first.
create index events_at on events (at_ms);
