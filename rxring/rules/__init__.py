"""The rules: their registry (ids, names, sentences, explanations) and their query files.

* :mod:`.registry` — one :class:`~.registry.Rule` per rule of DESIGN §3;
* :mod:`.events` — the events that count (deletions, repeated ids), for every engine;
* :mod:`.render` — the ``sql/`` and ``cypher/`` files, read and parameterised;
* :mod:`.findings` — flat evidence rows to findings, and their explanations.

Only the registry is imported here (:mod:`rxring.schema` takes the rule ids from it).
"""

from .registry import NO_PROVENANCE_TERMS, REGISTRY, RULE_IDS, SAME_SALE, UNDONE, Rule, rule

__all__ = ["Rule", "REGISTRY", "RULE_IDS", "NO_PROVENANCE_TERMS", "SAME_SALE", "UNDONE", "rule"]
