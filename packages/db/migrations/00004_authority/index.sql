-- PLACEHOLDER on branch h5 only, so that 00005_registry applies (postgres-shift wants consecutive numbers).
-- At merge, take H3's packages/db/migrations/00004_authority/index.sql instead of this file.
select 1;
