-- PLACEHOLDER on branch h5 only, so that 00005_registry applies (postgres-shift wants consecutive numbers).
-- At merge, take H2's packages/db/migrations/00003_idempotency/index.sql instead of this file.
select 1;
