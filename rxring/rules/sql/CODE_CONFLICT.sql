-- CODE_CONFLICT (串换/假码): one code is carried by different products, or a code's
-- product part contradicts the product code.
--
-- Precisely: product codes are compared trimmed and upper-cased; NULLs are never a
-- conflict.  The usual product of a product part (code_product: cn20 prefix or
-- GTIN) is learned from the data: the product_code carried by the most distinct
-- codes with that part (ties: smallest product_code), if it has at least
-- ${conflict_min_support} codes and at least ${conflict_min_share} of the codes with
-- that part.  A code's expected product is the usual product of its part when
-- learned, else the product_code of its first event that carries one.  A code is
-- a finding when any of its events carries another product_code.  One finding per
-- code; evidence: its events that carry a product_code.  A net dispense with an
-- unexpected product is role 'actor' (its site is where the swap was billed, and
-- its patient and prescriber are the people on that settlement: ring members);
-- any other event with an unexpected product is 'laundering' (its site only);
-- the rest 'other'.  Money: the net dispenses with the unexpected product.
-- (The usual products are learned from every code of the city in stage usual,
-- and stage codes holds every code's smallest and largest product_norm and its
-- code_product; only codes with several products are looked at event by event.
-- A conflicted code is a candidate (stage cand), so all its events are in ev.)
WITH per_code AS (  -- product keys (stage keys): equal when the product_norms are
  SELECT trace_code, pmin, pmax, part_key FROM codes
),
multi AS (
  SELECT trace_code FROM per_code WHERE pmin <> pmax
),
multi_first AS (
  SELECT trace_code, product_norm
  FROM (SELECT e.trace_code, e.product_norm,
               ROW_NUMBER() OVER (PARTITION BY e.trace_code ORDER BY e.event_time, e.event_id) AS rn
        FROM ev e JOIN multi m ON m.trace_code = e.trace_code
        WHERE e.product_norm IS NOT NULL) ordered
  WHERE rn = 1
),
conflicted AS (
  SELECT /*+ BROADCAST(u) */ c.trace_code, COALESCE(u.usual_product, f.product_norm) AS expected_product,
         u.usual_product, u.n_codes, u.n_total
  FROM per_code c
  LEFT JOIN usual u ON u.part_key = c.part_key
  LEFT JOIN multi_first f ON f.trace_code = c.trace_code
  WHERE c.pmin IS NOT NULL
    AND ((u.usual_key IS NOT NULL AND (c.pmin <> u.usual_key OR c.pmax <> u.usual_key))
         OR (u.usual_key IS NULL AND c.pmin <> c.pmax))
),
scans AS (
  SELECT d.trace_code, d.event_id, d.is_rescan, d.is_net FROM dr d JOIN conflicted c ON c.trace_code = d.trace_code
)
SELECT 'CODE_CONFLICT' AS rule, e.trace_code, '' AS disc, e.event_id,
       CASE WHEN e.product_norm = c.expected_product THEN 'other'
            WHEN d.is_net THEN 'actor'
            ELSE 'laundering' END AS role,
       CASE WHEN e.product_norm <> c.expected_product AND d.is_net THEN TRUE ELSE FALSE END AS money,
       c.expected_product || '|' || COALESCE(CAST(c.n_codes AS STRING), '') || '|' ||
         COALESCE(CAST(c.n_total AS STRING), '') AS note
FROM ev e
JOIN conflicted c ON c.trace_code = e.trace_code
LEFT JOIN scans d ON d.trace_code = e.trace_code AND d.event_id = e.event_id
WHERE e.product_norm IS NOT NULL AND (d.event_id IS NULL OR NOT d.is_rescan)
