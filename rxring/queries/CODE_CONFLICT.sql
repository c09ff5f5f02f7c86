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
WITH code_first AS (
  SELECT trace_code, product_norm
  FROM (SELECT trace_code, product_norm,
               ROW_NUMBER() OVER (PARTITION BY trace_code ORDER BY event_time, event_id) AS rn
        FROM ev WHERE product_norm IS NOT NULL) ordered
  WHERE rn = 1
),
code_part AS (
  SELECT trace_code, MIN(code_product) AS code_product
  FROM ev WHERE code_product IS NOT NULL
  GROUP BY trace_code
),
pairs AS (
  SELECT DISTINCT e.trace_code, cp.code_product, e.product_norm
  FROM ev e JOIN code_part cp ON cp.trace_code = e.trace_code
  WHERE e.product_norm IS NOT NULL
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
expected AS (
  SELECT f.trace_code, COALESCE(u.usual_product, f.product_norm) AS expected_product,
         u.usual_product, u.n_codes, u.n_total
  FROM code_first f
  LEFT JOIN code_part cp ON cp.trace_code = f.trace_code
  LEFT JOIN usual u ON u.code_product = cp.code_product
),
conflicted AS (
  SELECT DISTINCT x.trace_code, x.expected_product, x.usual_product, x.n_codes, x.n_total
  FROM expected x
  JOIN ev e ON e.trace_code = x.trace_code
  WHERE e.product_norm IS NOT NULL AND e.product_norm <> x.expected_product
)
SELECT 'CODE_CONFLICT' AS rule, e.trace_code, '' AS disc, e.event_id,
       CASE WHEN e.product_norm = c.expected_product THEN 'other'
            WHEN dr.is_net THEN 'actor'
            ELSE 'laundering' END AS role,
       CASE WHEN e.product_norm <> c.expected_product AND dr.is_net THEN TRUE ELSE FALSE END AS money,
       c.expected_product || '|' || COALESCE(CAST(c.n_codes AS STRING), '') || '|' ||
         COALESCE(CAST(c.n_total AS STRING), '') AS note
FROM ev e
JOIN conflicted c ON c.trace_code = e.trace_code
LEFT JOIN dr ON dr.event_id = e.event_id
WHERE e.product_norm IS NOT NULL AND (dr.event_id IS NULL OR NOT dr.is_rescan)
