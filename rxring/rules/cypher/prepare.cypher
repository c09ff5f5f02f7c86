// prepare: derive, on every (:Event), the properties the five rule queries read.
// Run it after each load and whenever a parameter changes; it rewrites them all.
// (In Neo4j Browser, prefix each statement with :auto — they commit in batches.)
//
// Parameters:
//   $double_scan_seconds   two dispense (or two refund) scans of one code at one site
//                          this close in time are one sale (AnalysisOptions.double_scan_minutes x 60)
//
// Writes:
//   e.product_norm   product_code trimmed and upper-cased
//   e.fund_money     fund money of a dispense: fund_amount, else the line total when the sale
//                    was settled with the fund (settlement_id), else 0; 0 for other event types
//   e.total_money    total_amount of a dispense, 0 for other event types
//   e.rescan         one sale scanned or reported again (rxring.rules.registry.SAME_SALE,
//                    as stage_dr.sql step 1): the settlement id of an earlier dispense
//                    (refund) of the code at the site; or the record_no of the first one
//                    with it, when neither settlement ids nor patients differ; or, unless the two carry two
//                    different settlement ids, within $double_scan_seconds of the previous
//                    one with the same patient or an unknown one
//   e.net            a net dispense: neither a re-scan nor cancelled by a refund.  Refunds
//                    cancel, per code and site, the latest earlier dispense not yet cancelled
//                    (at equal times a dispense comes first); a refund of a sale made before
//                    the data window cancels nothing
//   e.pack           the pack dispense a net dispense belongs to: 'W:<event id>' for a
//                    whole pack; split (拆零) sales of one code at one site share a pack while
//                    their running units stay within the product's pack_units (the event's
//                    product, else the smallest product code any event of the code carries;
//                    'S:<site>:<index>'; one pack when pack_units is unknown)
//   e.pack_time      the first time of that pack dispense
//   e.pack_order     1 for the code's first pack dispense, 2 for the next, ...

// 1. money and product, per event
MATCH (e:Event)
CALL (e) {
  SET e.product_norm = CASE WHEN trim(coalesce(e.product_code, '')) = '' THEN null
                            ELSE toUpper(trim(e.product_code)) END,
      e.fund_money = CASE WHEN e.type <> 'dispense' THEN 0.0
                          WHEN e.fund_amount IS NOT NULL THEN toFloat(e.fund_amount)
                          WHEN e.settlement_id IS NOT NULL THEN toFloat(coalesce(e.total_amount, 0.0))
                          ELSE 0.0 END,
      e.total_money = CASE WHEN e.type = 'dispense' THEN toFloat(coalesce(e.total_amount, 0.0)) ELSE 0.0 END,
      e.rescan = false, e.net = false, e.pack = null, e.pack_time = null, e.pack_order = null
} IN TRANSACTIONS OF 5000 ROWS;

// 2. double scans, per code, site and event type, in time order
MATCH (b:Box)
CALL (b) {
  MATCH (b)<-[:OF]-(e:Event)-[:AT]->(s:Site)
  WHERE e.type IN ['dispense', 'refund']
  OPTIONAL MATCH (e)-[:TO]->(p:Patient)
  WITH s, e, p.id AS patient
  ORDER BY e.time, e.id
  WITH s, e.type AS type, collect({e: e, patient: patient}) AS scans
  UNWIND range(1, size(scans) - 1) AS i
  WITH scans[i - 1] AS prev, scans[i] AS cur, scans[..i] AS earlier,
       duration.inSeconds(scans[i - 1].e.time, scans[i].e.time) AS gap
  WITH cur.e AS e, prev, cur, gap.seconds + gap.nanosecondsOfSecond / 1000000000.0 AS seconds,
       [x IN earlier WHERE cur.e.settlement_id IS NOT NULL AND x.e.settlement_id = cur.e.settlement_id] AS same_settlement,
       [x IN earlier WHERE cur.e.record_no IS NOT NULL AND x.e.record_no = cur.e.record_no] AS same_record
  WHERE size(same_settlement) > 0
     OR (size(same_record) > 0
         AND (cur.e.settlement_id IS NULL OR same_record[0].e.settlement_id IS NULL
              OR same_record[0].e.settlement_id = cur.e.settlement_id)
         AND (cur.patient IS NULL OR same_record[0].patient IS NULL OR same_record[0].patient = cur.patient))
     OR ((cur.e.settlement_id IS NULL OR prev.e.settlement_id IS NULL)
         AND seconds <= $double_scan_seconds
         AND (cur.patient IS NULL OR prev.patient IS NULL OR cur.patient = prev.patient))
  SET e.rescan = true
} IN TRANSACTIONS OF 1000 ROWS;

// 3. refunds cancel dispenses (last in, first out), per code and site: the rest are net
MATCH (b:Box)
CALL (b) {
  MATCH (b)<-[:OF]-(e:Event)-[:AT]->(s:Site)
  WHERE e.type IN ['dispense', 'refund'] AND NOT e.rescan
  WITH s, e
  ORDER BY e.time, CASE WHEN e.type = 'dispense' THEN 0 ELSE 1 END, e.id
  WITH s, collect(e) AS scans
  WITH scans, reduce(stack = [], x IN scans |
         CASE WHEN x.type = 'dispense' THEN stack + [x]
              WHEN size(stack) > 0 THEN stack[..-1]
              ELSE stack END) AS net
  UNWIND net AS e
  SET e.net = true
} IN TRANSACTIONS OF 1000 ROWS;

// 4. pack dispenses: whole packs, and split sales grouped by the product's pack units
MATCH (b:Box)
CALL (b) {
  OPTIONAL MATCH (b)<-[:OF]-(any:Event)
  WITH b, min(any.product_norm) AS code_product
  MATCH (b)<-[:OF]-(e:Event {net: true})-[:AT]->(s:Site)
  OPTIONAL MATCH (p:Product {code: coalesce(e.product_norm, code_product)})
  WITH s, e, p.pack_units AS pack_units
  ORDER BY e.time, e.id
  WITH s, collect({e: e, units: pack_units}) AS sales
  WITH s, sales,
       reduce(acc = [], x IN sales |
         acc + [coalesce(last(acc), 0.0) + CASE WHEN coalesce(x.e.split_sale, false)
                                                THEN toFloat(coalesce(x.e.quantity, 1.0)) ELSE 0.0 END]) AS running
  UNWIND range(0, size(sales) - 1) AS i
  WITH s, sales[i].e AS e, sales[i].units AS units, running[i] AS cum_units
  WITH e, CASE WHEN NOT coalesce(e.split_sale, false) THEN 'W:' + e.id
               WHEN units IS NULL OR units <= 0 THEN 'S:' + s.id + ':0'
               ELSE 'S:' + s.id + ':' + toString(CASE WHEN toInteger(ceil(cum_units / units)) - 1 < 0 THEN 0
                                                      ELSE toInteger(ceil(cum_units / units)) - 1 END) END AS pack
  WITH pack, collect(e) AS members, min(e.time) AS pack_time
  ORDER BY pack_time, pack
  WITH collect({pack: pack, members: members, time: pack_time}) AS packs
  UNWIND range(0, size(packs) - 1) AS i
  UNWIND packs[i].members AS e
  SET e.pack = packs[i].pack, e.pack_time = packs[i].time, e.pack_order = i + 1
} IN TRANSACTIONS OF 1000 ROWS;
