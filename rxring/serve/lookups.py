"""Where the workbench's event look-ups are answered: the workspace's Parquet, or the Neo4j graph.

Findings, rings, the overview, search and settlements always come from the analysed
workspace.  A box's chain of custody, the events of a site, patient or prescriber
and their neighbourhoods (the pages and the ring explorer's *expand*) come from
:class:`EmbeddedLookups` (:mod:`rxring.results`, the look-up copies), or with
``rxring serve --backend neo4j`` from :class:`Neo4jLookups`: the graph ``rxring load``
wrote, through the same Cypher files as ``rxring box|site|patient --backend neo4j``
(:mod:`rxring.backends.neo4j.listing`).  Both give the same columns, ids as stored
(the workbench masks them), so the pages cannot tell them apart.

The graph keeps only the events the rules count (the loader drops NHSA deletions
and repeated event ids), so a box page from it omits those rows, and its notes are
the graph's marks ("same sale reported again", "cancelled by a refund").
"""

from __future__ import annotations

import pandas as pd

from .. import results
from ..errors import RxringError

__all__ = ["EmbeddedLookups", "Neo4jLookups", "open_lookups"]


def _ordered(neighbours: pd.DataFrame) -> pd.DataFrame:
    """One order for both backends: by relation, strongest first (boxes), then id."""
    return neighbours.sort_values(["relation", "boxes", "id"], ascending=[True, False, True],
                                  kind="stable").reset_index(drop=True)


class EmbeddedLookups:
    """The look-ups over the workspace's events (:mod:`rxring.results`)."""

    backend = "embedded"
    where = ""

    def __init__(self, ws):
        self.ws = ws

    def box_events(self, code: str) -> pd.DataFrame:
        """One pack's chain of custody with :data:`rxring.results.BOX_EVENT_EXTRA` (RxringError when absent)."""
        return results.box_events(self.ws, code)

    def actor_events(self, kind: str, key: str, limit: int) -> pd.DataFrame:
        """The latest *limit* events of a site, patient, prescriber, settlement or code, in time order."""
        return results.actor_events(self.ws, kind, key, limit=limit)

    def weeks(self, kind: str, key: str) -> dict[str, int]:
        """All the events of a site, patient, prescriber or settlement per week (:func:`rxring.results.actor_weeks`;
        from the workspace for both backends: the activity chart counts every event ingested)."""
        return results.actor_weeks(self.ws, kind, key)

    def neighbours(self, kind: str, key: str, limit: int, offset: int = 0, relations=None) -> pd.DataFrame:
        """:func:`rxring.results.actor_neighbours`, in :func:`_ordered` order."""
        return _ordered(results.actor_neighbours(self.ws, kind, key, limit=limit, offset=offset,
                                                 relations=relations))

    def close(self) -> None:
        """Nothing to release."""


class Neo4jLookups(EmbeddedLookups):
    """The look-ups of boxes, sites, patients and prescribers over the Neo4j graph (one driver, held open);
    settlements and codes as :class:`EmbeddedLookups`."""

    backend = "neo4j"

    def __init__(self, ws, neo4j=None):
        from ..backends.neo4j.connect import Neo4jConfig, connect, resolve_config

        super().__init__(ws)
        self.config = neo4j if isinstance(neo4j, Neo4jConfig) else resolve_config(neo4j)
        self.where = self.config.describe()
        self.driver = connect(self.config)

    def box_events(self, code: str) -> pd.DataFrame:
        from ..backends.neo4j.listing import box_chain

        return box_chain(self.driver, code, self.config.database, where=self.where, extra=results.BOX_EVENT_EXTRA)

    def actor_events(self, kind: str, key: str, limit: int) -> pd.DataFrame:
        """As :meth:`EmbeddedLookups.actor_events`: the events as stored, without the custody notes (the
        box page has those)."""
        from ..backends.neo4j import listing

        db, extra = self.config.database, results.BOX_EVENT_EXTRA
        try:
            if kind == "site":
                events = listing.site_events(self.driver, key, db, limit=limit, where=self.where, extra=extra)[1]
            elif kind == "patient":   # the listing gives a patient's first events; the pages show the latest
                events = listing.patient_events(self.driver, key, db, limit=None, where=self.where,
                                                extra=extra).tail(limit).reset_index(drop=True)
            elif kind == "prescriber":
                events = listing.prescriber_events(self.driver, key, db, limit=limit, extra=extra)
            else:
                return super().actor_events(kind, key, limit)
        except RxringError:          # not in the graph: no events (the page then says not found)
            events = pd.DataFrame(columns=list(listing.TIMELINE_COLUMNS) + list(extra))
        return events.drop(columns="note")

    def neighbours(self, kind: str, key: str, limit: int, offset: int = 0, relations=None) -> pd.DataFrame:
        from ..backends.neo4j.listing import neighbours

        results.check_relations(kind, relations)
        return _ordered(neighbours(self.driver, kind, key, self.config.database, limit=limit, offset=offset,
                                   relations=relations))

    def close(self) -> None:
        self.driver.close()


def open_lookups(ws, backend: str | None = None, neo4j=None) -> EmbeddedLookups:
    """The look-ups of *backend* (:func:`rxring.results.lookup_backend`: neo4j when a server is named)."""
    if results.lookup_backend(backend, neo4j) == "neo4j":
        return Neo4jLookups(ws, neo4j)
    return EmbeddedLookups(ws)
