-- Stage ev: the events of the candidate codes (stage cand) with every
-- column the rules read.  The rows are those of stage scan (deletions, repeated
-- event_ids and incomplete rows already dropped); the wide columns are fetched
-- from events_raw by (trace_code, row_key).  Every event of a candidate code is
-- here, so per-code work in the rules sees the code whole.
-- Adds to the scan columns:
--   event_id, expiry, code_expiry, quantity (NULL as 1), split_sale (NULL as FALSE),
--   product_norm  product_code trimmed and upper-cased, '' as NULL
--   code_product  trimmed, '' as NULL
--   patient_id, prescriber_id, settlement_id, record_no  trimmed, '' as NULL
--   fund_money    fund money of a dispense: fund_amount when given, else the line total
--                 when the sale was settled with the fund (settlement_id present), else 0;
--                 0 for every other event type
--   total_money   total_amount of a dispense, 0 otherwise
SELECT
  e.event_id,
  s.trace_code,
  s.event_type,
  s.event_time,
  s.ev_sec,
  s.site_id,
  CASE WHEN TRIM(s.product_code) = '' THEN NULL ELSE UPPER(TRIM(s.product_code)) END AS product_norm,
  e.expiry,
  e.code_expiry,
  COALESCE(e.quantity, 1.0) AS quantity,
  COALESCE(e.split_sale, FALSE) AS split_sale,
  NULLIF(TRIM(e.patient_id), '') AS patient_id,
  NULLIF(TRIM(e.prescriber_id), '') AS prescriber_id,
  NULLIF(TRIM(e.settlement_id), '') AS settlement_id,
  NULLIF(TRIM(e.record_no), '') AS record_no,
  NULLIF(TRIM(s.code_product), '') AS code_product,
  s.counterparty,
  CASE WHEN s.event_type <> 'dispense' THEN 0.0
       WHEN e.fund_amount IS NOT NULL THEN e.fund_amount
       WHEN NULLIF(TRIM(e.settlement_id), '') IS NOT NULL THEN COALESCE(e.total_amount, 0.0)
       ELSE 0.0 END AS fund_money,
  CASE WHEN s.event_type = 'dispense' THEN COALESCE(e.total_amount, 0.0) ELSE 0.0 END AS total_money
FROM scan s
JOIN cand c ON c.trace_code = s.trace_code
JOIN events_raw e ON e.trace_code = s.trace_code AND e.row_key = s.row_key
