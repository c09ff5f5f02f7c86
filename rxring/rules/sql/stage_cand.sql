-- Stage cand: the candidate codes, those some rule could report.  Only their events
-- go on to the wide stage ev; for nearly every code of a city (a plain life: an
-- inbound, one sale) the work ends at the aggregations of code_site and codes.
--
-- A code is a candidate when one of these holds; each is implied by every finding
-- of its rule (so the findings are exactly those of running the rules on all codes):
--   n_dr >= 2        DUP_DISPENSE needs two pack dispenses, so two net dispenses,
--                    so two dispense scans.  (And with n_dr <= 1 the lone dispense of
--                    a code is a net dispense: NO_PROVENANCE's coverage relies on it.)
--   last_sec > first_disp_sec
--                    RESURFACE needs an event later than the code's first pack
--                    dispense, whose time is that of a dispense, so >= the first
--                    dispense.  (ev_sec is strictly increasing in event_time:
--                    microseconds apart stay apart in a double at today's epochs.)
--   CAST(last_disp_time AS DATE) > min_expiry
--                    EXPIRED needs a net dispense whose day is after
--                    COALESCE(expiry, code_expiry, the code's latest such expiry):
--                    one of the code's any_expiry values or their maximum, so
--                    >= min_expiry; and no dispense day is after the last one's.
--   conflicted       CODE_CONFLICT's own test (stage usual; the rule repeats it).
--   unreceived       NO_PROVENANCE: a site of the code whose first dispense comes
--                    before any receipt counted in code_site.receipt_sec (or has
--                    none), at a site that can be judged at all.  The rule's
--                    receipts include those, so its first receipt is no later, and
--                    its first net dispense is no earlier than the first dispense.
--                    A site is judged only when n_received > 0 and n_received >=
--                    ${provenance_min_coverage} * n_codes; n_received <= max_received
--                    and n_codes >= single_codes (stage sites), so (the coverage being
--                    between 0 and 1, which AnalysisOptions checks) a site failing
--                    the same test on these bounds is never judged.
WITH unreceived AS (
  SELECT /*+ BROADCAST(b) */ DISTINCT cs.trace_code
  FROM code_site cs JOIN sites b ON b.site_id = cs.site_id
  WHERE cs.disp_sec IS NOT NULL AND (cs.receipt_sec IS NULL OR cs.receipt_sec > cs.disp_sec)
    AND b.max_received > 0 AND b.max_received >= ${provenance_min_coverage} * b.single_codes
)
SELECT /*+ BROADCAST(u) */ c.trace_code
FROM codes c
LEFT JOIN usual u ON u.part_key = c.part_key
LEFT JOIN unreceived r ON r.trace_code = c.trace_code
WHERE c.n_dr >= 2
   OR c.last_sec > c.first_disp_sec
   OR CAST(c.last_disp_time AS DATE) > c.min_expiry
   OR (c.pmin IS NOT NULL
       AND ((u.usual_key IS NOT NULL AND (c.pmin <> u.usual_key OR c.pmax <> u.usual_key))
            OR (u.usual_key IS NULL AND c.pmin <> c.pmax)))
   OR r.trace_code IS NOT NULL
