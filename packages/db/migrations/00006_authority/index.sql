-- Authority is recorded, never inferred (issue #12, findings 1 and 2).
--
-- 1. Two freezes, one per authority. A central-bank freeze (operator, reason, reference, time)
--    and a bank freeze (bank, reason, time) are recorded separately; `status` stays the effective
--    status that settlement reads ('frozen' while either holds), and a constraint ties it to the
--    recorded freezes, so no writer can mark a wallet frozen or active without the record.
alter table wallets
  add column central_frozen_by        text,
  add column central_freeze_reason    text,
  add column central_freeze_reference text,
  add column central_frozen_at        timestamptz,
  add column bank_frozen_by           text,
  add column bank_freeze_reason       text,
  add column bank_frozen_at           timestamptz;

-- A wallet frozen before the freezes were separated: its authority is unknown, so it is taken as
-- the central bank's (the stricter one: its bank cannot lift it).
update wallets set central_frozen_by = 'migration', central_freeze_reason = 'frozen before 00004_authority separated the freezes',
  central_freeze_reference = 'migration-00004', central_frozen_at = updated_at
where status = 'frozen';

alter table wallets
  add constraint wallets_central_freeze_whole check (
    (central_frozen_at is null) = (central_frozen_by is null) and (central_frozen_at is null) = (central_freeze_reason is null)
    and (central_frozen_at is null) = (central_freeze_reference is null)),
  add constraint wallets_bank_freeze_whole check (
    (bank_frozen_at is null) = (bank_frozen_by is null) and (bank_frozen_at is null) = (bank_freeze_reason is null)),
  add constraint wallets_status_follows_freezes check (
    status = 'closed' or (status = 'frozen') = (central_frozen_at is not null or bank_frozen_at is not null));

-- The history of freezes: every freeze and lift, with its authority, actor, reason and reference.
-- The columns above say what holds now; this says who changed it, when and why.
create table wallet_freeze_events (
  id          bigserial primary key,
  wallet_id   text not null references wallets(id),
  authority   text not null check (authority in ('central', 'bank')),
  action      text not null check (action in ('freeze', 'lift')),
  actor       text not null,
  reason      text not null,
  reference   text,
  at          timestamptz not null,
  check ((authority = 'central') = (reference is not null))
);
create index wallet_freeze_events_wallet on wallet_freeze_events (wallet_id, id);

-- 2. Dual control: one table for every operator action that needs, or may need, a second
--    operator (mint, retire, reserve deposit and withdrawal, onboarding a bank, registering an
--    operator). An action executes at once when one operator may do it alone (recorded with
--    approved_by null), else it waits as pending_approval until `expires_at`. Cumulative limits are
--    summed over this table (pending and executed alike), so the rows are never deleted.
create table operator_actions (
  id            text primary key,
  kind          text not null check (kind in ('mint', 'retire', 'reserve_deposit', 'reserve_withdrawal', 'bank_onboarding', 'operator_registration', 'operator_key_change')),
  -- The bank concerned; not a foreign key, as onboarding names a bank that does not exist yet.
  bank_id       text,
  amount_minor  bigint check (amount_minor is null or amount_minor > 0),
  params        jsonb not null,
  requested_by  text not null references operators(id),
  approved_by   text references operators(id),
  status        text not null check (status in ('pending_approval', 'executed')),
  -- Why it waits (or null): the rule of the dual-control decision that required a second operator.
  approval_reason text,
  created_at    timestamptz not null,
  expires_at    timestamptz not null,
  executed_at   timestamptz,
  -- The requesting operator's signed request (hex message, signature, body): the authority of the
  -- registry event the action writes when it executes (see docs/registry.md).
  requester_authority jsonb,
  check (approved_by is null or approved_by <> requested_by),
  check ((status = 'executed') = (executed_at is not null))
);
create index operator_actions_requester_window on operator_actions (requested_by, kind, created_at);
create index operator_actions_bank_window on operator_actions (bank_id, kind, created_at);
create index operator_actions_pending on operator_actions (created_at) where status = 'pending_approval';

-- Each governing row names the action that created it (and so both operators, when two were needed).
alter table reserve_entries add column action_id text unique references operator_actions(id);
alter table banks add column action_id text unique references operator_actions(id);
alter table operators add column created_by text references operators(id);
alter table operators add column action_id text unique references operator_actions(id);

-- 3. A reserve reference (the RTGS reference) is recorded once per bank.
create unique index reserve_entries_bank_reference on reserve_entries (bank_id, reference);
