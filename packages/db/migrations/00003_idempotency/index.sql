-- Idempotency keys you can trust, and request nonces that survive the loss of Redis data.
--
-- idempotency_keys is scoped by service, principal kind and principal id (before, a bank named
-- like an operator shared the operator's scope). A key is claimed in the same transaction as its
-- effect where the effect is one Postgres transaction, so a crash leaves nothing behind; where the
-- effect happens elsewhere (a funding, settled by settlement and deduplicated there by its id) the
-- claim is a lease: `status_code` is null and `lease_expires_at_ms` says until when the claiming
-- request owns it; after that a retry takes it over and drives the request again. Every key
-- expires at `expires_at_ms` (the service's retention) and is pruned after it.
--
-- The rows of the old table cannot be given a service and principal kind (that was the fault), so
-- they are dropped: a retry, after this upgrade, of a request made before it runs again.
drop table idempotency_keys;

create table idempotency_keys (
  service              text not null,
  principal_kind       text not null,
  principal_id         text not null,
  key                  text not null,
  -- SHA-256 over the method, path and body: the same key with another request is refused.
  request_hash         bytea not null check (length(request_hash) = 32),
  -- The stored answer; null while a lease holds (or was released without a final answer).
  status_code          integer,
  response             jsonb,
  lease_expires_at_ms  bigint,
  created_at_ms        bigint not null,
  expires_at_ms        bigint not null,
  primary key (service, principal_kind, principal_id, key),
  check ((status_code is null) = (response is null))
);
create index idempotency_keys_expiry on idempotency_keys (expires_at_ms);

-- Nonces of signed requests that change something, claimed durably (Redis holds only those of
-- reads). `scope` is service/principal kind, e.g. 'gateway/bank'. A row is needed only while a
-- request with that nonce could still pass the clock-skew check; it is pruned after.
create table request_nonces (
  scope          text not null,
  key_id         text not null,
  nonce          text not null,
  expires_at_ms  bigint not null,
  primary key (scope, key_id, nonce)
);
create index request_nonces_expiry on request_nonces (expires_at_ms);
