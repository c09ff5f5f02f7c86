-- EXPIRED (过期销售): the pack was dispensed after its expiry date.
--
-- Precisely: a net dispense whose calendar day (local time) is later than the
-- pack's expiry date; a dispense ON the expiry day is not expired.  The expiry is
-- the event's own expiry (expy_end), else the expiry in the code itself (GS1 AI 17,
-- code_expiry), else the latest expiry any other event of the code carries.  One
-- finding per code; evidence: the expired dispenses (role 'other': a site selling
-- an expired pack is not by that a ring member).  Money: those dispenses.
WITH code_expiry_known AS (
  SELECT trace_code, MAX(COALESCE(expiry, code_expiry)) AS known_expiry
  FROM ev
  GROUP BY trace_code
)
SELECT 'EXPIRED' AS rule, n.trace_code, '' AS disc, n.event_id, 'other' AS role,
       TRUE AS money,
       CAST(COALESCE(n.expiry, n.code_expiry, k.known_expiry) AS STRING) AS note
FROM netd n
JOIN code_expiry_known k ON k.trace_code = n.trace_code
WHERE CAST(n.event_time AS DATE) > COALESCE(n.expiry, n.code_expiry, k.known_expiry)
