-- Stage keys: every spelling of a product_code or a code_product in the events, with
-- an integer key per normalised value, so that the whole-city aggregations compare
-- and take minima of integers, not strings
-- (measured: string MIN/MAX per code cost more than the rest of the per-code work).
--   kind      'product' (product_code) or 'part' (code_product, the code's product part)
--   spelling  the value as written in events_raw
--   norm      product_code trimmed and upper-cased, code_product trimmed ('' dropped)
--   norm_key  dense rank of norm within its kind: equal norms share a key, and keys
--             sort like the norms (the MIN of keys is the key of the MIN of norms)
SELECT kind, spelling, norm, DENSE_RANK() OVER (PARTITION BY kind ORDER BY norm) AS norm_key
FROM (SELECT kind, spelling,
             CASE WHEN kind = 'product' THEN (CASE WHEN TRIM(spelling) = '' THEN NULL ELSE UPPER(TRIM(spelling)) END)
                  ELSE NULLIF(TRIM(spelling), '') END AS norm
      FROM (SELECT DISTINCT 'product' AS kind, product_code AS spelling FROM events_raw WHERE product_code IS NOT NULL
            UNION ALL
            SELECT DISTINCT 'part' AS kind, code_product AS spelling FROM events_raw WHERE code_product IS NOT NULL
           ) spellings
     ) normalised
WHERE norm IS NOT NULL
