-- Stage dr: every dispense and refund with its normalisation.
--
-- 1. One sale is one sale (rxring.rules.registry.SAME_SALE, where it is written once): a
--    dispense (or refund) scan of a code at a site is a re-scan -- the same sale
--    scanned or reported again: a double scan, a retransmission under a new NHSA
--    msgid, the settlement (channel A) and the 进销存 3505 of one sale -- when
--    a. it carries the settlement id of an earlier scan of that code at that site
--       (one pack cannot be sold twice in one settlement, whatever the time
--       between: a hospital stay settles days of dispensing at discharge); or
--    b. it carries the record number (record_no: fixmedins_bchno,
--       medins_prod_sel_no, feedetl_sn) of the first scan of that code at that
--       site with that number, and neither their settlement ids nor their
--       patients differ (a record rebuilt and sent again, perhaps with its upload
--       time as its time; a vendor that writes one number on every record still
--       cannot hide a sale to another patient); or
--    c. neither it nor the previous scan at that site carries a settlement id
--       different from the other's (two settlement ids are two sales), it is
--       within ${double_scan_seconds} s of the previous scan, and their patients
--       are equal or either is unknown.
--    Re-scans are dropped (is_rescan).
-- 2. Refunds cancel dispenses, per (code, site), last-in-first-out: a refund
--    cancels the latest earlier dispense at that site not already cancelled.  A
--    refund with nothing to cancel (its sale was before the data window) cancels
--    nothing.  Done with a walk clamped at zero (level = running sum of +1 per
--    dispense and -1 per refund, minus its running minimum when negative): a
--    refund that lowers the level from k to k-1 cancels the latest dispense before
--    it that raised the level to k.  At equal times a dispense sorts before a refund.
-- Only (code, site) pairs with two or more dispense/refund scans need the walk; a
-- lone dispense is a net dispense and a lone refund cancels nothing.
-- Every join and window is keyed by trace_code.
-- Output: the ev columns of every dispense and refund, and is_rescan,
--   is_net     dispense that is neither a re-scan nor cancelled (a net dispense)
--   refund_of  for a refund: the event_id of the dispense it cancels
WITH scans AS (
  SELECT ev.*, COUNT(*) OVER (PARTITION BY trace_code, site_id) AS n_scans
  FROM ev
  WHERE event_type IN ('dispense', 'refund')
),
lagged AS (
  SELECT scans.*,
         LAG(ev_sec) OVER (PARTITION BY trace_code, site_id, event_type ORDER BY event_time, event_id) AS prev_sec,
         LAG(settlement_id) OVER (PARTITION BY trace_code, site_id, event_type ORDER BY event_time, event_id) AS prev_settlement,
         LAG(patient_id) OVER (PARTITION BY trace_code, site_id, event_type ORDER BY event_time, event_id) AS prev_patient,
         ROW_NUMBER() OVER (PARTITION BY trace_code, site_id, event_type, settlement_id
                            ORDER BY event_time, event_id) AS settlement_rank,
         ROW_NUMBER() OVER (PARTITION BY trace_code, site_id, event_type, record_no
                            ORDER BY event_time, event_id) AS record_rank,
         FIRST_VALUE(settlement_id) OVER (PARTITION BY trace_code, site_id, event_type, record_no
                                          ORDER BY event_time, event_id) AS record_settlement,
         FIRST_VALUE(patient_id) OVER (PARTITION BY trace_code, site_id, event_type, record_no
                                       ORDER BY event_time, event_id) AS record_patient
  FROM scans
  WHERE n_scans > 1
),
flagged AS (
  SELECT lagged.*,
         CASE WHEN prev_sec IS NULL THEN FALSE
              WHEN settlement_id IS NOT NULL AND settlement_rank > 1 THEN TRUE
              WHEN record_no IS NOT NULL AND record_rank > 1
                   AND (settlement_id IS NULL OR record_settlement IS NULL OR settlement_id = record_settlement)
                   AND (patient_id IS NULL OR record_patient IS NULL OR patient_id = record_patient)
                THEN TRUE
              WHEN settlement_id IS NOT NULL AND prev_settlement IS NOT NULL THEN FALSE
              WHEN ev_sec - prev_sec <= ${double_scan_seconds}
                   AND (patient_id IS NULL OR prev_patient IS NULL OR patient_id = prev_patient)
                THEN TRUE
              ELSE FALSE END AS is_rescan
  FROM lagged
),
walk AS (
  SELECT trace_code, site_id, event_id, event_type,
         ROW_NUMBER() OVER (PARTITION BY trace_code, site_id
                            ORDER BY event_time, CASE WHEN event_type = 'dispense' THEN 0 ELSE 1 END, event_id) AS seq,
         SUM(CASE WHEN event_type = 'dispense' THEN 1 ELSE -1 END)
           OVER (PARTITION BY trace_code, site_id
                 ORDER BY event_time, CASE WHEN event_type = 'dispense' THEN 0 ELSE 1 END, event_id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS run_sum
  FROM flagged
  WHERE NOT is_rescan
),
clamped AS (
  SELECT walk.*,
         run_sum - LEAST(0, MIN(run_sum) OVER (PARTITION BY trace_code, site_id ORDER BY seq
                                               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) AS level
  FROM walk
),
leveled AS (
  SELECT clamped.*,
         LAG(level, 1, 0) OVER (PARTITION BY trace_code, site_id ORDER BY seq) AS prev_level
  FROM clamped
),
cancels AS (
  SELECT r.event_id AS refund_id, r.trace_code, r.site_id, MAX(d.seq) AS dispense_seq
  FROM leveled r
  JOIN leveled d
    ON d.trace_code = r.trace_code AND d.site_id = r.site_id
   AND d.event_type = 'dispense' AND d.level = r.level + 1 AND d.seq < r.seq
  WHERE r.event_type = 'refund' AND r.prev_level >= 1
  GROUP BY r.event_id, r.trace_code, r.site_id
),
cancelled AS (
  SELECT c.trace_code, c.refund_id, d.event_id AS dispense_id
  FROM cancels c
  JOIN leveled d ON d.trace_code = c.trace_code AND d.site_id = c.site_id AND d.seq = c.dispense_seq
)
SELECT f.event_id, f.trace_code, f.event_type, f.event_time, f.ev_sec, f.site_id, f.product_norm, f.expiry,
       f.code_expiry, f.quantity, f.split_sale, f.patient_id, f.prescriber_id, f.settlement_id,
       f.code_product, f.counterparty, f.fund_money, f.total_money,
       f.is_rescan,
       CASE WHEN f.event_type = 'dispense' AND NOT f.is_rescan AND cd.refund_id IS NULL
            THEN TRUE ELSE FALSE END AS is_net,
       cr.dispense_id AS refund_of
FROM flagged f
LEFT JOIN cancelled cd ON cd.trace_code = f.trace_code AND cd.dispense_id = f.event_id
LEFT JOIN cancelled cr ON cr.trace_code = f.trace_code AND cr.refund_id = f.event_id
UNION ALL
SELECT s.event_id, s.trace_code, s.event_type, s.event_time, s.ev_sec, s.site_id, s.product_norm, s.expiry,
       s.code_expiry, s.quantity, s.split_sale, s.patient_id, s.prescriber_id, s.settlement_id,
       s.code_product, s.counterparty, s.fund_money, s.total_money,
       FALSE AS is_rescan,
       CASE WHEN s.event_type = 'dispense' THEN TRUE ELSE FALSE END AS is_net,
       CAST(NULL AS STRING) AS refund_of
FROM scans s
WHERE s.n_scans = 1
