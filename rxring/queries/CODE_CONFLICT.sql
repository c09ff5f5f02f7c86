-- CODE_CONFLICT (串换/假码): one code carried by different products, or a code whose
-- product part contradicts the product_code.
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
-- (Codes carrying one product_code are handled by one hash aggregation; only
-- codes with several are looked at event by event.)
WITH per_code AS (
  SELECT trace_code, MIN(product_norm) AS pmin, MAX(product_norm) AS pmax, MIN(code_product) AS code_product
  FROM ev
  GROUP BY trace_code
),
multi AS (
  SELECT trace_code, code_product FROM per_code WHERE pmin <> pmax
),
multi_first AS (
  SELECT trace_code, product_norm
  FROM (SELECT e.trace_code, e.product_norm,
               ROW_NUMBER() OVER (PARTITION BY e.trace_code ORDER BY e.event_time, e.event_id) AS rn
        FROM ev e JOIN multi m ON m.trace_code = e.trace_code
        WHERE e.product_norm IS NOT NULL) ordered
  WHERE rn = 1
),
pairs AS (
  SELECT trace_code, code_product, pmin AS product_norm
  FROM per_code WHERE pmin = pmax AND code_product IS NOT NULL
  UNION ALL
  SELECT DISTINCT e.trace_code, m.code_product, e.product_norm
  FROM ev e JOIN multi m ON m.trace_code = e.trace_code
  WHERE e.product_norm IS NOT NULL AND m.code_product IS NOT NULL
),
support AS (
  SELECT code_product, product_norm, COUNT(*) AS n_codes FROM pairs GROUP BY code_product, product_norm
),
totals AS (
  SELECT code_product, COUNT(DISTINCT trace_code) AS n_total FROM pairs GROUP BY code_product
),
ranked AS (
  SELECT s.code_product, s.product_norm, s.n_codes, t.n_total,
         ROW_NUMBER() OVER (PARTITION BY s.code_product ORDER BY s.n_codes DESC, s.product_norm) AS rn
  FROM support s JOIN totals t ON t.code_product = s.code_product
),
usual AS (
  SELECT code_product, product_norm AS usual_product, n_codes, n_total
  FROM ranked
  WHERE rn = 1 AND n_codes >= ${conflict_min_support} AND n_codes >= ${conflict_min_share} * n_total
),
conflicted AS (
  SELECT c.trace_code, COALESCE(u.usual_product, f.product_norm) AS expected_product,
         u.usual_product, u.n_codes, u.n_total
  FROM per_code c
  LEFT JOIN usual u ON u.code_product = c.code_product
  LEFT JOIN multi_first f ON f.trace_code = c.trace_code
  WHERE c.pmin IS NOT NULL
    AND ((u.usual_product IS NOT NULL AND (c.pmin <> u.usual_product OR c.pmax <> u.usual_product))
         OR (u.usual_product IS NULL AND c.pmin <> c.pmax))
),
scans AS (
  SELECT d.event_id, d.is_rescan, d.is_net FROM dr d JOIN conflicted c ON c.trace_code = d.trace_code
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
LEFT JOIN scans d ON d.event_id = e.event_id
WHERE e.product_norm IS NOT NULL AND (d.event_id IS NULL OR NOT d.is_rescan)
