-- The events that count (rxring/rules/events.py): every engine registers this query
-- as the view `counted`; stage scan reads it, the Neo4j loader loads its rows.
--
-- * Drops deleted events: a `deletions` row (rules/events.py deletions_frame) matches
--   the event column its key_kind names -- record_no (NHSA 3507), settlement_id
--   (2208 / 2305 settlement cancellations), message_id (2601 reversals) -- and
--   event_type / site_id when the deletion names them.  One join per key kind, so
--   each is an equality join.
-- * Drops repeated event_ids (the same line ingested twice): of the rows that are
--   not deleted, the first by source_file, source_line (then row_key, the input's
--   row position) is kept.  Only ids that occur more than once in the input are
--   ranked, so the common case costs one hash aggregation, not a sort of the whole
--   table.  (The one grouping by event_id: a repeated id may be carried by rows of
--   different codes.)
-- * Drops rows without trace_code, event_time or site_id (ingest quarantines them;
--   this guards hand-made tables).
-- Input `events_raw` carries the schema.EVENT_SCHEMA columns, the schema.EVENT_ORIGIN_SCHEMA
-- columns (message_id, visit_id, channel; NULL where the input has none) and row_key
-- (unique); the output has the same columns.
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
        LEFT JOIN deletions dr
          ON dr.key_kind = 'record_no' AND dr.key = e.record_no
         AND (dr.event_type IS NULL OR dr.event_type = e.event_type)
         AND (dr.site_id IS NULL OR dr.site_id = e.site_id)
        LEFT JOIN deletions ds
          ON ds.key_kind = 'settlement_id' AND ds.key = e.settlement_id
         AND (ds.event_type IS NULL OR ds.event_type = e.event_type)
         AND (ds.site_id IS NULL OR ds.site_id = e.site_id)
        LEFT JOIN deletions dm
          ON dm.key_kind = 'message_id' AND dm.key = e.message_id
         AND (dm.event_type IS NULL OR dm.event_type = e.event_type)
         AND (dm.site_id IS NULL OR dm.site_id = e.site_id)
        WHERE dr.key IS NULL AND ds.key IS NULL AND dm.key IS NULL
          AND e.trace_code IS NOT NULL AND e.event_time IS NOT NULL AND e.site_id IS NOT NULL) ranked
  WHERE id_rank > 1
)
SELECT e.*
FROM events_raw e
LEFT JOIN deletions dr
  ON dr.key_kind = 'record_no' AND dr.key = e.record_no
 AND (dr.event_type IS NULL OR dr.event_type = e.event_type)
 AND (dr.site_id IS NULL OR dr.site_id = e.site_id)
LEFT JOIN deletions ds
  ON ds.key_kind = 'settlement_id' AND ds.key = e.settlement_id
 AND (ds.event_type IS NULL OR ds.event_type = e.event_type)
 AND (ds.site_id IS NULL OR ds.site_id = e.site_id)
LEFT JOIN deletions dm
  ON dm.key_kind = 'message_id' AND dm.key = e.message_id
 AND (dm.event_type IS NULL OR dm.event_type = e.event_type)
 AND (dm.site_id IS NULL OR dm.site_id = e.site_id)
LEFT JOIN repeats x ON x.trace_code = e.trace_code AND x.row_key = e.row_key
WHERE dr.key IS NULL AND ds.key IS NULL AND dm.key IS NULL AND x.row_key IS NULL
  AND e.trace_code IS NOT NULL AND e.event_time IS NOT NULL AND e.site_id IS NOT NULL
