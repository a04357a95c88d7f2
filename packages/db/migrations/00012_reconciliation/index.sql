-- Reconciliation (docs/api.md, "Reconciliation"): a bank's entries by settlement time, and the
-- end-of-day statement of its treasury, read without scanning the ledger.
--
-- An entry is one movement of one wallet's balance (or a bank's own refused request), exactly the
-- flows the audit sums into each balance (packages/db/src/audit.ts, checkBalances):
--   a transfer row debits its payer (leg_status settled or debited) and, settled, credits its payee
--   (a payee on the same shard); a leg credits its wallet (a credit at the payee's shard, a refund
--   at the payer's); an issuance leg credits (mint) or debits (retire) a treasury.
-- Every such row lives in the database of the shard whose wallet it moves, so the bank of that
-- wallet is known where the row is written; it is recorded on the row so that a bank's entries are
-- one index range each. The order of entries is (time, shard, batch seq, leaf index, side): the
-- time is the batch time of the shard that committed the movement (an issuance leg's own time).

-- 1. The bank of the wallet each row credits: a settled transfer's payee (same shard), an applied
--    leg's wallet. Null where nothing was credited (rejected rows; a debit towards another shard,
--    whose payee's bank sees the credit leg at the payee's shard; a refused credit).
alter table transfers add column payee_bank_id text;
alter table transfer_legs add column bank_id text;
update transfers t set payee_bank_id = w.bank_id from wallets w where w.id = t.payee_wallet_id and t.leg_status = 'settled';
update transfer_legs l set bank_id = w.bank_id from wallets w where w.id = l.wallet_id and l.status = 'applied';

-- 2. An issuance leg's time in the ledger's milliseconds (written by the issuer with its clock, as
--    the chain entry's time), and a number that orders the legs applied in the same millisecond.
alter table issuance_legs add column applied_at_ms bigint;
update issuance_legs set applied_at_ms = (extract(epoch from applied_at) * 1000)::bigint;
alter table issuance_legs alter column applied_at_ms set default (extract(epoch from now()) * 1000)::bigint;
alter table issuance_legs alter column applied_at_ms set not null;
alter table issuance_legs add column leg_no bigserial not null;

-- 3. A bank's entries, in entry order: its own requests (transfers.bank_id is the submitting bank,
--    whose wallet is the payer), what its wallets received on the payer's shard, its legs, its
--    treasury's issuance legs.
create index transfers_bank_settled on transfers (bank_id, settled_at_ms, shard, batch_seq, leaf_index);
create index transfers_payee_bank_settled on transfers (payee_bank_id, settled_at_ms, shard, batch_seq, leaf_index) where payee_bank_id is not null;
create index transfer_legs_bank_settled on transfer_legs (bank_id, settled_at_ms, shard, batch_seq, leaf_index) where bank_id is not null;
create index issuance_legs_bank_applied on issuance_legs (bank_id, applied_at_ms, shard, leg_no);

-- 4. A treasury's movements by time (its statement sums them before and after a day). Treasury ids
--    are 't_<bank>', customer wallets 'w_…': these cover only the banks' conversions (fundings,
--    redemptions and their legs), not the payments between customers.
create index transfers_treasury_out on transfers (payer_wallet_id, settled_at_ms, shard, batch_seq, leaf_index) include (amount_minor, leg_status) where left(payer_wallet_id, 2) = 't_';
create index transfers_treasury_in on transfers (payee_wallet_id, settled_at_ms, shard, batch_seq, leaf_index) include (amount_minor) where payee_bank_id is not null and left(payee_wallet_id, 2) = 't_';
create index transfer_legs_treasury on transfer_legs (wallet_id, settled_at_ms, shard, batch_seq, leaf_index) include (amount_minor) where bank_id is not null and left(wallet_id, 2) = 't_';
