-- Issuance across servers (docs/architecture.md, "Issuance across servers"). A mint or retire
-- touches the issuer's records (central database) and a treasury wallet (its shard group's
-- database); no transaction spans two servers, so the treasury side travels as a leg, applied
-- exactly once, and the request records how far it got.
--
-- 1. Banks live in the central database only; a shard group's wallets name their bank without a
--    foreign key (the audit checks every wallet's bank against the registry instead).
alter table wallets drop constraint if exists wallets_bank_id_fkey;

-- 2. The request's progress (central). A mint is `executed` (chain entry appended, reserve and
--    supply moved) with its leg `sent`, then `delivered` once the treasury's group has applied it.
--    A retire is `retiring` (approved, no chain entry) until its group has debited the treasury
--    (then `executed`, leg `delivered`, with its chain entry) or refused the debit (`refused`,
--    with the code).
alter table issuance_requests drop constraint if exists issuance_requests_status_check;
alter table issuance_requests add constraint issuance_requests_status_check check (status in ('pending_approval', 'retiring', 'executed', 'refused'));
alter table issuance_requests add column leg_status text check (leg_status in ('sent', 'delivered'));
alter table issuance_requests add column code text;
alter table issuance_requests add constraint issuance_requests_refused_code check ((status = 'refused') = (code is not null));
alter table issuance_requests add constraint issuance_requests_leg_of_executed check ((leg_status is not null) = (status = 'executed'));
create index issuance_requests_unfinished on issuance_requests (created_at) where status = 'retiring' or leg_status = 'sent';

-- 3. The treasury side (shard group): one row per request, applied or refused, written under the
--    shard lock in the same transaction as the treasury balance it moves. A mint leg carries the
--    chain entry it delivers (seq and hash, which the issuer signed); a retire leg precedes its
--    entry, which names the request.
create table issuance_legs (
  request_id          text primary key,
  kind                text not null check (kind in ('mint', 'retire')),
  bank_id             text not null,
  treasury_wallet_id  text not null,
  shard               integer not null check (shard >= 0),
  amount_minor        bigint not null check (amount_minor > 0),
  status              text not null check (status in ('applied', 'rejected')),
  code                text,
  chain_seq           bigint,
  entry_hash          bytea,
  applied_at          timestamptz not null default now(),
  check ((status = 'rejected') = (code is not null)),
  check ((kind = 'mint') = (chain_seq is not null and entry_hash is not null)),
  check (kind = 'retire' or status = 'applied')
);
create index issuance_legs_treasury on issuance_legs (treasury_wallet_id);

-- 4. Existing issuance, executed in one transaction with the treasury in this database: each
--    executed request's leg is applied and delivered.
update issuance_requests set leg_status = 'delivered' where status = 'executed';
insert into issuance_legs (request_id, kind, bank_id, treasury_wallet_id, shard, amount_minor, status, chain_seq, entry_hash)
select c.request_id, c.kind, c.bank_id, w.id, w.shard, c.amount_minor, 'applied', case when c.kind = 'mint' then c.seq end, case when c.kind = 'mint' then c.hash end
from issuance_chain c join wallets w on w.id = 't_' || c.bank_id;
