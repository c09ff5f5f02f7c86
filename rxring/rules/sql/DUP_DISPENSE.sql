-- DUP_DISPENSE (同一追溯码重复销售): a code has more than one net dispense (dispenses minus
-- refunds); split sales of one code at one site whose summed quantity stays within the
-- pack's units are not a finding.
--
-- Precisely: one finding per trace code with two or more pack dispenses (stage pd:
-- net dispenses after dropping double scans and refunded sales, split sales grouped
-- by pack units).  Evidence: every net dispense of the code; the first pack
-- dispense is the 'source' (or 'source_split' when it is a split-sale group: the
-- site is the source site, but buyers of a few tablets never held the pack and
-- are not source patients), the later ones 'laundering'.  Money: all of them.
-- Output (every rule): rule, trace_code, disc, event_id, role, money, note.
WITH repeated AS (
  SELECT trace_code, COUNT(*) AS n_packs
  FROM pd
  GROUP BY trace_code
  HAVING COUNT(*) > 1
)
SELECT 'DUP_DISPENSE' AS rule,
       n.trace_code,
       '' AS disc,
       n.event_id,
       CASE WHEN p.pd_order > 1 THEN 'laundering'
            WHEN n.split_sale THEN 'source_split'
            ELSE 'source' END AS role,
       TRUE AS money,
       CAST(r.n_packs AS STRING) AS note
FROM netd n
JOIN pd p ON p.trace_code = n.trace_code AND p.pd_key = n.pd_key
JOIN repeated r ON r.trace_code = n.trace_code
