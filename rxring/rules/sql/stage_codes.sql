-- Stage codes: one row per trace code of the city (roll-up of stage code_site).
--   n_dr             dispense and refund scans of the code
--   first_disp_sec   first dispense (ev_sec); last_disp_time: last dispense (time)
--   last_sec         last event of any type (ev_sec)
--   pmin, pmax       keys (stage keys) of the smallest and largest product_norm of
--                    its events (NULLs aside)
--   part_key         key of the smallest code_product of its events
--   min_expiry       smallest any_expiry of its events
SELECT trace_code,
       SUM(n_dr) AS n_dr,
       MIN(disp_sec) AS first_disp_sec,
       MAX(last_disp_time) AS last_disp_time,
       MAX(last_sec) AS last_sec,
       MIN(pmin) AS pmin,
       MAX(pmax) AS pmax,
       MIN(part_key) AS part_key,
       MIN(min_expiry) AS min_expiry
FROM code_site
GROUP BY trace_code
