-- RESURFACE (回流): after a net dispense to a patient, the same code appears in a later
-- event at another site (inbound, dispense, inventory), or is dispensed again at the
-- same site to someone else.
--
-- Precisely: the source is the code's first pack dispense (stage pd, pd_order 1: a
-- net, unrefunded dispense).  Resurfacing events are the code's events strictly
-- later than the source's first scan, without double scans, that are
--   * at another site (any event type: inbound, dispense, refund, transfer,
--     inventory, adjust, purchase return), or
--   * a net dispense at the source site belonging to another pack dispense, to
--     someone else: a patient who is not a source patient (an unknown patient
--     counts as someone else when a source patient is known).
-- Only codes with an event later than their source are examined (one hash
-- aggregation finds them).  One finding per trace code.  Evidence: the source dispense(s) ('source') and the
-- resurfacing events ('laundering'; their site is the laundering site).  Money:
-- the dispenses among them.  Every join is keyed by trace_code.
WITH code_last AS (
  SELECT trace_code, MAX(event_time) AS last_time FROM ev GROUP BY trace_code
),
src AS (
  SELECT p.trace_code, p.pd_key, p.site_id, p.pd_time
  FROM pd p
  JOIN code_last c ON c.trace_code = p.trace_code
  WHERE p.pd_order = 1 AND c.last_time > p.pd_time
),
src_events AS (
  SELECT n.trace_code, n.event_id, n.patient_id, n.split_sale
  FROM netd n
  JOIN src s ON s.trace_code = n.trace_code AND s.pd_key = n.pd_key
),
src_patients AS (
  SELECT DISTINCT trace_code, patient_id FROM src_events WHERE patient_id IS NOT NULL
),
src_patient_count AS (
  SELECT trace_code, COUNT(*) AS n_patients FROM src_patients GROUP BY trace_code
),
cand_scans AS (
  SELECT d.trace_code, d.event_id, d.is_rescan FROM dr d JOIN src s ON s.trace_code = d.trace_code
),
cand_net AS (
  SELECT n.trace_code, n.event_id, n.pd_key FROM netd n JOIN src s ON s.trace_code = n.trace_code
),
later AS (
  SELECT e.trace_code, e.event_id
  FROM ev e
  JOIN src s ON s.trace_code = e.trace_code
  LEFT JOIN cand_scans d ON d.trace_code = e.trace_code AND d.event_id = e.event_id
  LEFT JOIN cand_net n ON n.trace_code = e.trace_code AND n.event_id = e.event_id
  LEFT JOIN src_patients sp ON sp.trace_code = e.trace_code AND sp.patient_id = e.patient_id
  LEFT JOIN src_patient_count spc ON spc.trace_code = e.trace_code
  WHERE e.event_time > s.pd_time
    AND (d.event_id IS NULL OR NOT d.is_rescan)
    AND (e.site_id <> s.site_id
         OR (n.event_id IS NOT NULL AND n.pd_key <> s.pd_key
             AND sp.patient_id IS NULL
             AND (e.patient_id IS NOT NULL OR COALESCE(spc.n_patients, 0) > 0)))
),
resurfaced AS (
  SELECT DISTINCT trace_code FROM later
)
SELECT 'RESURFACE' AS rule, se.trace_code, '' AS disc, se.event_id,
       CASE WHEN se.split_sale THEN 'source_split' ELSE 'source' END AS role,
       TRUE AS money, '' AS note
FROM src_events se
JOIN resurfaced r ON r.trace_code = se.trace_code
UNION ALL
SELECT 'RESURFACE' AS rule, l.trace_code, '' AS disc, l.event_id, 'laundering' AS role,
       TRUE AS money, '' AS note
FROM later l
