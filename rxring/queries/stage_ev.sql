-- Stage ev: the events every rule reads (one row per real scan).
--
-- * Drops events deleted by an NHSA 3507 message: `deletions` rows match on
--   record_no, and on event_type / site_id when the deletion names them.
-- * Drops repeated event_ids (the same line ingested twice): the first by
--   source_file, source_line (then row_key, the input's row position) is kept.
--   Only ids that occur more than once are ranked, so the common case costs one
--   hash aggregation, not a sort of the whole table.
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
-- Input `events_raw` carries the schema.EVENT_SCHEMA columns plus row_key (unique).
WITH raw AS (
  SELECT e.row_key, e.event_id, e.trace_code, e.event_type, e.event_time, e.site_id, e.product_code,
         e.expiry, e.code_expiry, e.quantity, e.split_sale, e.patient_id, e.prescriber_id,
         e.settlement_id, e.code_product, e.counterparty, e.fund_amount, e.total_amount,
         e.source_file, e.source_line
  FROM events_raw e
  LEFT JOIN deletions d
    ON d.record_no = e.record_no
   AND (d.event_type IS NULL OR d.event_type = e.event_type)
   AND (d.site_id IS NULL OR d.site_id = e.site_id)
  WHERE d.record_no IS NULL
    AND e.trace_code IS NOT NULL AND e.event_time IS NOT NULL AND e.site_id IS NOT NULL
),
repeated_ids AS (
  SELECT event_id FROM raw GROUP BY event_id HAVING COUNT(*) > 1
),
repeats AS (
  SELECT row_key
  FROM (SELECT r.row_key,
               ROW_NUMBER() OVER (PARTITION BY r.event_id
                                  ORDER BY r.source_file, r.source_line, r.row_key) AS id_rank
        FROM raw r JOIN repeated_ids i ON i.event_id = r.event_id) ranked
  WHERE id_rank > 1
)
SELECT
  raw.event_id,
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
FROM raw
LEFT JOIN repeats x ON x.row_key = raw.row_key
WHERE x.row_key IS NULL
