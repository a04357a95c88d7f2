-- Placeholder on the holds branch only, so that 00011_holds applies (postgres-shift needs consecutive
-- numbers). The lead drops it at merge: the other branches' 00010 takes its place.
select 1;
