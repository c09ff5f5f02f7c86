-- Stage scan: every event that counts (view `counted`: sql/counted.sql drops NHSA
-- 3507 deletions, repeated event_ids and incomplete rows), narrow: the columns the
-- whole-city passes read.
-- Columns: row_key (unique; with trace_code the key that fetches the wide columns
-- in stage ev), trace_code, event_type, event_time, site_id and
--   ev_sec        event time in epoch seconds (EPOCH_SECONDS is the one dialect macro)
--   product_code, code_product  as written (stage keys numbers their normalised values)
--   counterparty  trimmed, '' as NULL
--   any_expiry    the event's expiry, else the expiry in the code (code_expiry)
-- Nearly every event belongs to a plain life (an inbound, one sale) that no rule
-- can report: this stage and the aggregations of code_site and codes are the only
-- work done for every event; the wide stage ev holds the candidate codes only.
SELECT
  e.row_key,
  e.trace_code,
  e.event_type,
  e.event_time,
  EPOCH_SECONDS(e.event_time) AS ev_sec,
  e.site_id,
  e.product_code,
  e.code_product,
  NULLIF(TRIM(e.counterparty), '') AS counterparty,
  COALESCE(e.expiry, e.code_expiry) AS any_expiry
FROM counted e
