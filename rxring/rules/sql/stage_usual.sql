-- Stage usual: the usual product of each product part (CODE_CONFLICT), learned from
-- every code of the city.
--
-- The usual product of a product part (code_product: cn20 prefix or GTIN) is the
-- product_code carried by the most distinct codes with that part (ties: smallest
-- product_code), if it has at least ${conflict_min_support} codes and at least
-- ${conflict_min_share} of the codes with that part.  A code's product part is the
-- smallest code_product of its events (stage codes); a code carrying one product
-- counts for it, a code carrying several counts for each of them.
-- Products and parts are compared by their keys (stage keys), which sort like them.
-- Output: part_key, usual_key and usual_product (the usual product's key and
-- product_norm), n_codes (codes carrying it), n_total (codes with the part).
-- Groupings by product part are the only ones here (few rows).
WITH multi AS (
  SELECT trace_code, part_key FROM codes WHERE pmin <> pmax AND part_key IS NOT NULL
),
pairs AS (
  SELECT trace_code, part_key, pmin AS product_key
  FROM codes WHERE pmin = pmax AND part_key IS NOT NULL
  UNION ALL
  SELECT /*+ BROADCAST(k) */ DISTINCT s.trace_code, m.part_key, k.norm_key AS product_key
  FROM scan s
  JOIN multi m ON m.trace_code = s.trace_code
  JOIN keys k ON k.kind = 'product' AND k.spelling = s.product_code
),
support AS (
  SELECT part_key, product_key, COUNT(*) AS n_codes FROM pairs GROUP BY part_key, product_key
),
totals AS (
  SELECT part_key, COUNT(DISTINCT trace_code) AS n_total FROM pairs GROUP BY part_key
),
ranked AS (
  SELECT s.part_key, s.product_key, s.n_codes, t.n_total,
         ROW_NUMBER() OVER (PARTITION BY s.part_key ORDER BY s.n_codes DESC, s.product_key) AS rn
  FROM support s JOIN totals t ON t.part_key = s.part_key
),
product_names AS (
  SELECT DISTINCT norm_key, norm FROM keys WHERE kind = 'product'
)
SELECT /*+ BROADCAST(n) */ r.part_key, r.product_key AS usual_key, n.norm AS usual_product, r.n_codes, r.n_total
FROM ranked r
JOIN product_names n ON n.norm_key = r.product_key
WHERE r.rn = 1 AND r.n_codes >= ${conflict_min_support} AND r.n_codes >= ${conflict_min_share} * r.n_total
