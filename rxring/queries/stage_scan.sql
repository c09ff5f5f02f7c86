-- Stage scan: every real scan, narrow (the columns the whole-city passes read).
--
-- * Drops events deleted by an NHSA 3507 message: `deletions` rows match on
--   record_no, and on event_type / site_id when the deletion names them.
-- * Drops repeated event_ids (the same line ingested twice): of the rows that are
--   not deleted, the first by source_file, source_line (then row_key, the input's
--   row position) is kept.  Only ids that occur more than once in the input are
--   ranked, so the common case costs one hash aggregation, not a sort of the whole
--   table.  (The one grouping by event_id: a repeated id may be carried by rows of
--   different codes.)
-- * Drops rows without trace_code, event_time or site_id (ingest quarantines them;
--   this guards hand-made tables).
-- Columns: row_key (unique; with trace_code the key that fetches the wide columns
-- in stage ev), trace_code, event_type, event_time, site_id and
--   ev_sec        event time in epoch seconds (EPOCH_SECONDS is the one dialect macro)
--   product_code, code_product  as written (stage keys numbers their normalised values)
--   counterparty  trimmed, '' as NULL
--   any_expiry    the event's expiry, else the expiry in the code (code_expiry)
-- Input `events_raw` carries the schema.EVENT_SCHEMA columns plus row_key (unique).
-- Nearly every event belongs to a plain life (an inbound, one sale) that no rule
-- can report: this stage and the aggregations of code_site and codes are the only
-- work done for every event; the wide stage ev holds the candidate codes only.
-- (events_raw is read twice rather than through a shared CTE: a CTE used twice
-- would be materialised whole.)
WITH repeated_ids AS (
  SELECT event_id FROM events_raw GROUP BY event_id HAVING COUNT(*) > 1
),
repeats AS (
  SELECT trace_code, row_key
  FROM (SELECT e.trace_code, e.row_key,
               ROW_NUMBER() OVER (PARTITION BY e.event_id
                                  ORDER BY e.source_file, e.source_line, e.row_key) AS id_rank
        FROM events_raw e
        JOIN repeated_ids i ON i.event_id = e.event_id
        LEFT JOIN deletions d
          ON d.record_no = e.record_no
         AND (d.event_type IS NULL OR d.event_type = e.event_type)
         AND (d.site_id IS NULL OR d.site_id = e.site_id)
        WHERE d.record_no IS NULL
          AND e.trace_code IS NOT NULL AND e.event_time IS NOT NULL AND e.site_id IS NOT NULL) ranked
  WHERE id_rank > 1
)
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
FROM events_raw e
LEFT JOIN deletions d
  ON d.record_no = e.record_no
 AND (d.event_type IS NULL OR d.event_type = e.event_type)
 AND (d.site_id IS NULL OR d.site_id = e.site_id)
LEFT JOIN repeats x ON x.trace_code = e.trace_code AND x.row_key = e.row_key
WHERE d.record_no IS NULL AND x.row_key IS NULL
  AND e.trace_code IS NOT NULL AND e.event_time IS NOT NULL AND e.site_id IS NOT NULL
