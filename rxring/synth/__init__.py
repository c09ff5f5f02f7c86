"""Synthetic city generator: realistic traceability-code scans with planted resale rings.

Real NHSA data is not public, so rxring demonstrates, tests and measures itself on
generated cities.  :func:`generate` writes the scan inputs (NHSA messages, a
Chinese-header CSV export, canonical Parquet or GS1 EPCIS), the master tables and
``ground_truth.json``::

    {"seed": N, "params": {...}, "counts": {"events": n, ...},
     "rings": [{"ring_id": "GT01", "style": "...", "plan": {...},
                "members": {"source_patients": [...], "prescribers": [...], "source_sites": [...],
                            "laundering_sites": [...], "brokers": [...]},
                "trace_codes": [...]}],
     "expected_findings": [{"rule": "DUP_DISPENSE", "trace_code": "...", "ring_id": "GT01" or null}],
     "traps": [{"kind": "refund_resale", "trace_codes": [...]}]}

Trace codes are canonical (as ingest produces them); member ids are as they appear
in the data (psn_no, prsc_dr_certno, fixmedins_code; brokers are spler_name).
Members are read off the expected findings: the patients, doctors and sites of the
source dispenses, and the sites where the packs resurfaced; for ``code_swap``
rings the swap pharmacy is the laundering site and the card holders whose
settlements carried the swapped packs are the source patients.  ``plan`` (extra)
records the ring's speed, geography and shares of recycler inbound and second
settlement.

``expected_findings`` is every (rule, trace_code) a correct reading of DESIGN §3
reports with the default AnalysisOptions (recorded in
``params.analysis_options``; see :mod:`rxring.synth.truth`); EXPIRED findings on
legitimately sold short-dated packs have ``ring_id`` null.  ``traps`` list
legitimate packs (at most 2000 per kind) that a naive reading would flag:
refund_resale, chain_transfer_sale, purchase_return, double_scan,
split_within_pack, inventory_before_dispense, expiry_day_dispense,
no_inbound_reporting_site.

Layout: ``OUT/inputs/`` (scan files by month, ``sites.csv``, ``products.csv``; the
folder to ingest) and ``OUT/ground_truth.json`` beside it.  The event stream does
not depend on the format except for EPCIS, which cannot carry patients, product
codes, settlements, quantities or expiry: there the truth is computed from what
EPCIS expresses, no 拆零 sales are made and no code_swap ring is planted.

Modules: :mod:`~rxring.synth.catalog` (drugs, districts, chains),
:mod:`~rxring.synth.city` (actors), :mod:`~rxring.synth.life` (legitimate life,
day by day), :mod:`~rxring.synth.fraud` (ring styles), :mod:`~rxring.synth.writers`
(formats), :mod:`~rxring.synth.nhsa_styles` (NHSA single-row, batch, settlement channel
and mixed reporting of the same events), :mod:`~rxring.synth.truth` (reference rules),
:mod:`~rxring.synth.groundtruth` (ground_truth.json), :mod:`~rxring.synth.generate`.
"""

from .generate import GenerationSummary, SynthParams, generate
from .truth import reference_findings

__all__ = ["generate", "GenerationSummary", "SynthParams", "reference_findings"]
