-- Events retention and webhooks (docs/events.md).
--
-- Retention: the events of a bank on a shard are pruned as a prefix of its seqs; `pruned_seq` is
-- the last seq pruned, so a feed cursor or a delivery cursor below it is known to have missed
-- events (the feed answers 410, a delivery moves on), and "from the oldest retained" starts there.
-- A table of its own, not a column of event_heads: the pruner then never locks a head row that
-- settlement's batches lock (no deadlock between the two, whatever order each takes rows in).
create table event_retention (
  bank_id     text not null,
  shard       integer not null check (shard >= 0),
  pruned_seq  bigint not null check (pruned_seq >= 1),
  primary key (bank_id, shard)
);

-- The retention pruner finds old events by time. A BRIN index serves it: events are appended in
-- time order, so block ranges summarise well, and it costs settlement next to nothing per row,
-- where the btree it replaces cost one more index insert per event (docs/performance.md, Events).
drop index events_at;
create index events_at on events using brin (at_ms);

-- Webhook endpoints, in the central database: a bank's own (bank-scoped everywhere). The signing
-- secrets are stored sealed (libsodium sealed boxes) to the delivery service's X25519 key: the
-- gateway, which creates them, cannot read them back, and neither can anyone reading this table.
-- During a rotation's overlap the previous secret signs too, until `previous_secret_expires_at_ms`.
create table webhook_endpoints (
  id                             text primary key,
  bank_id                        text not null references banks(id),
  url                            text not null,
  description                    text,
  -- Event types delivered; null: every type.
  event_types                    text[],
  enabled                        boolean not null default true,
  secret_sealed                  bytea not null,
  previous_secret_sealed         bytea,
  previous_secret_expires_at_ms  bigint,
  created_at_ms                  bigint not null,
  updated_at_ms                  bigint not null
);
create index webhook_endpoints_bank on webhook_endpoints (bank_id, id);

-- Where each endpoint is in a shard's events, in that shard's database: the last seq delivered
-- (or passed over: not of the endpoint's types, or dead-lettered), and the retry state of the next.
-- One delivery process at a time holds a cursor's row lock while it delivers.
create table webhook_cursors (
  endpoint_id          text not null,
  shard                integer not null check (shard >= 0),
  bank_id              text not null,
  seq                  bigint not null check (seq >= 0),
  attempts             integer not null default 0,
  first_failed_at_ms   bigint,
  next_attempt_at_ms   bigint not null default 0,
  last_error           text,
  primary key (endpoint_id, shard)
);

-- Events whose delivery to an endpoint exhausted its retries, in the event's shard's database,
-- with the payload as it was sent (so that a redelivery does not depend on the event's retention).
create table webhook_dead_letters (
  endpoint_id                 text not null,
  shard                       integer not null check (shard >= 0),
  seq                         bigint not null check (seq >= 1),
  bank_id                     text not null,
  type                        text not null,
  payload                     text not null,
  attempts                    integer not null,
  last_error                  text not null,
  dead_at_ms                  bigint not null,
  status                      text not null check (status in ('dead', 'redelivery_requested', 'redelivered')),
  redelivery_requested_at_ms  bigint,
  redelivered_at_ms           bigint,
  primary key (endpoint_id, shard, seq)
);
create index webhook_dead_letters_redelivery on webhook_dead_letters (status) where status = 'redelivery_requested';
create index webhook_dead_letters_age on webhook_dead_letters (dead_at_ms);
