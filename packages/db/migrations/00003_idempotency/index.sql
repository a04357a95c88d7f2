-- PLACEHOLDER on branch h3 only, so that migration numbers are contiguous (postgres-shift refuses a
-- gap) while 00004_authority is developed apart from H2's 00003_idempotency. At merge, take H2's
-- file for this path; this placeholder must never be applied to a database that is kept.
select 1;
