-- A funding carries its bank's authority: the bank's signed request (path, headers, body) with the
-- signature in `signature`, so that settlement and the audit verify it against the bank's key, as
-- they verify a transfer's customer signature. A gateway cannot make a funding its bank did not sign.
alter table transfers add column funding_request jsonb;
alter table transfers drop constraint transfers_check2;
alter table transfers add constraint transfers_authority check (
  (kind = 'transfer' and nonce is not null and signature is not null and funding_request is null)
  or (kind = 'funding' and nonce is null and (funding_request is null) = (signature is null)));
