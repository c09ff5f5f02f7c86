// CODE_CONFLICT (串换/假码): one code is carried by different products, or a code's
// product part contradicts the product code.
//
// Precisely: product codes are compared trimmed and upper-cased (e.product_norm,
// written by prepare.cypher); missing ones are never a conflict.  The usual product
// of a product part (b.code_product: cn20 prefix or GTIN) is learned from the data:
// the product code carried by the most distinct codes with that part (ties: the
// smallest product code), if it has at least $conflict_min_support codes and at
// least $conflict_min_share of the codes with that part.  A code's expected product
// is the usual product of its part when learned, else the product code of its first
// event that carries one (b.product_code).  A code is a finding when any of its
// events carries another product code.  One finding per code; evidence: its events
// that carry a product code.  A net dispense with an unexpected product is role
// 'actor' (its site is where the swap was billed, and its patient and prescriber are
// the people on that settlement: ring members); any other event with an unexpected
// product is 'laundering' (its site only); the rest 'other'.  Money: the net
// dispenses with the unexpected product.
// Parameters: $conflict_min_support, $conflict_min_share (AnalysisOptions).
// Returns evidence rows: rule, trace_code, disc, event_id, role, money, note.
MATCH (b:Box)
WITH b.code_product AS part, collect(b) AS boxes
CALL (part, boxes) {
  // the usual product of this part: one row, usual = null when none is learned
  UNWIND boxes AS b
  MATCH (b)<-[:OF]-(e:Event)
  WHERE part IS NOT NULL AND e.product_norm IS NOT NULL
  WITH b, collect(DISTINCT e.product_norm) AS products
  WITH collect(products) AS per_code
  CALL (per_code) {
    UNWIND per_code AS products
    UNWIND products AS product
    WITH product, count(*) AS n_codes
    ORDER BY n_codes DESC, product
    RETURN head(collect({product: product, n_codes: n_codes})) AS top
  }
  WITH top, size(per_code) AS n_total
  RETURN CASE WHEN top IS NOT NULL AND top.n_codes >= $conflict_min_support
                   AND top.n_codes >= $conflict_min_share * n_total
              THEN {product: top.product, n_codes: top.n_codes, n_total: n_total} END AS usual
}
UNWIND boxes AS b
WITH b, usual, coalesce(usual.product, b.product_code) AS expected
WHERE expected IS NOT NULL
  AND EXISTS { MATCH (b)<-[:OF]-(x:Event) WHERE x.product_norm IS NOT NULL AND x.product_norm <> expected }
MATCH (b)<-[:OF]-(e:Event)-[:AT]->(s:Site)
WHERE e.product_norm IS NOT NULL AND NOT e.rescan
RETURN 'CODE_CONFLICT' AS rule, b.code AS trace_code, '' AS disc, e.id AS event_id,
       CASE WHEN e.product_norm = expected THEN 'other' WHEN e.net THEN 'actor' ELSE 'laundering' END AS role,
       (e.product_norm <> expected AND e.net) AS money,
       expected + '|' + coalesce(toString(usual.n_codes), '') + '|' + coalesce(toString(usual.n_total), '') AS note
