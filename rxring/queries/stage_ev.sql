-- Stage ev: the events every rule reads (one row per real scan).
--
-- * Drops events deleted by an NHSA 3507 message: `deletions` rows match on
--   record_no, and on event_type / site_id when the deletion names them.
-- * Drops repeated event_ids (the same line ingested twice): the first by
--   source_file, source_line is kept.
-- * Drops rows without trace_code, event_time or site_id (ingest quarantines them;
--   this guards hand-made tables).
-- Adds:
--   ev_sec        event time in epoch seconds (EPOCH_SECONDS is the one dialect macro:
--                 DuckDB epoch(), Spark unix_timestamp())
--   product_norm  product_code trimmed and upper-cased, '' as NULL
--   fund_money    fund money of a dispense: fund_amount when given, else the line total
--                 when the sale was settled with the fund (settlement_id present), else 0;
--                 0 for every other event type
--   total_money   total_amount of a dispense, 0 otherwise
WITH kept AS (
  SELECT e.*,
         ROW_NUMBER() OVER (PARTITION BY e.event_id
                            ORDER BY e.source_file, e.source_line, e.event_time) AS id_rank
  FROM events_raw e
  LEFT JOIN deletions d
    ON d.record_no = e.record_no
   AND (d.event_type IS NULL OR d.event_type = e.event_type)
   AND (d.site_id IS NULL OR d.site_id = e.site_id)
  WHERE d.record_no IS NULL
    AND e.trace_code IS NOT NULL AND e.event_time IS NOT NULL AND e.site_id IS NOT NULL
)
SELECT
  event_id,
  trace_code,
  event_type,
  event_time,
  EPOCH_SECONDS(event_time) AS ev_sec,
  site_id,
  CASE WHEN TRIM(product_code) = '' THEN NULL ELSE UPPER(TRIM(product_code)) END AS product_norm,
  expiry,
  code_expiry,
  COALESCE(quantity, 1.0) AS quantity,
  COALESCE(split_sale, FALSE) AS split_sale,
  NULLIF(TRIM(patient_id), '') AS patient_id,
  NULLIF(TRIM(prescriber_id), '') AS prescriber_id,
  NULLIF(TRIM(settlement_id), '') AS settlement_id,
  NULLIF(TRIM(code_product), '') AS code_product,
  NULLIF(TRIM(counterparty), '') AS counterparty,
  CASE WHEN event_type <> 'dispense' THEN 0.0
       WHEN fund_amount IS NOT NULL THEN fund_amount
       WHEN NULLIF(TRIM(settlement_id), '') IS NOT NULL THEN COALESCE(total_amount, 0.0)
       ELSE 0.0 END AS fund_money,
  CASE WHEN event_type = 'dispense' THEN COALESCE(total_amount, 0.0) ELSE 0.0 END AS total_money
FROM kept
WHERE id_rank = 1
