// rxring graph schema (DESIGN §4): one uniqueness constraint per node key, plus the
// indexes the rule queries filter on.  Run before any load; every statement is
// idempotent (IF NOT EXISTS), so running it twice changes nothing.
CREATE CONSTRAINT rxring_box_code IF NOT EXISTS FOR (b:Box) REQUIRE b.code IS UNIQUE;
CREATE CONSTRAINT rxring_site_id IF NOT EXISTS FOR (s:Site) REQUIRE s.id IS UNIQUE;
CREATE CONSTRAINT rxring_patient_id IF NOT EXISTS FOR (p:Patient) REQUIRE p.id IS UNIQUE;
CREATE CONSTRAINT rxring_prescriber_id IF NOT EXISTS FOR (d:Prescriber) REQUIRE d.id IS UNIQUE;
CREATE CONSTRAINT rxring_product_code IF NOT EXISTS FOR (p:Product) REQUIRE p.code IS UNIQUE;
CREATE CONSTRAINT rxring_event_id IF NOT EXISTS FOR (e:Event) REQUIRE e.id IS UNIQUE;
CREATE CONSTRAINT rxring_load_state_key IF NOT EXISTS FOR (l:LoadState) REQUIRE l.key IS UNIQUE;
CREATE INDEX rxring_event_type IF NOT EXISTS FOR (e:Event) ON (e.type);
CREATE INDEX rxring_event_time IF NOT EXISTS FOR (e:Event) ON (e.time);
CREATE INDEX rxring_box_product IF NOT EXISTS FOR (b:Box) ON (b.product_code);
