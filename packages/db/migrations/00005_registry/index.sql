-- The registry chains (packages/shared/src/registry.ts): every fact that governs money, as signed,
-- hash-chained events, appended in the same transaction as the row they explain. One chain for the
-- central bank's facts ("central") and one per bank for its wallets ("bank:<id>"). A chain's head
-- row is locked by each append, after every other lock of the transaction.
create table registry_heads (
  chain  text primary key,
  seq    bigint not null default 0,
  hash   bytea not null default '\x0000000000000000000000000000000000000000000000000000000000000000'
);

create table registry_events (
  chain                text not null,
  seq                  bigint not null check (seq >= 1),
  prev_hash            bytea not null,
  kind                 text not null,
  subject              text not null,
  facts                jsonb not null,
  actor_kind           text not null check (actor_kind in ('system', 'operator', 'bank')),
  actor_id             text not null,
  -- The actor's signed request (string to sign, signature, raw body); null for system events.
  authority_message    bytea,
  authority_signature  bytea,
  authority_body       bytea,
  authority_hash       bytea not null,
  signer               text not null check (signer in ('issuer', 'gateway')),
  signer_key           bytea not null check (length(signer_key) = 32),
  time_ms              bigint not null,
  hash                 bytea not null,
  signature            bytea not null,
  primary key (chain, seq)
);
-- A signed request authorises one event: a stored request cannot be used again for another.
create unique index registry_events_authority on registry_events (authority_signature) where authority_signature is not null;
create index registry_events_subject on registry_events (subject);
