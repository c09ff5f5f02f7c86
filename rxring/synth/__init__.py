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
``expected_findings`` is every (rule, trace_code) a correct reading of DESIGN §3
reports (see :mod:`rxring.synth.truth`); EXPIRED findings on legitimately sold
short-dated packs have ``ring_id`` null.
"""

from .generate import GenerationSummary, SynthParams, generate
from .truth import reference_findings

__all__ = ["generate", "GenerationSummary", "SynthParams", "reference_findings"]
