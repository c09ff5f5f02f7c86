"""Look things up in the Neo4j graph: a box's chain of custody, a site's or a patient's events.

The listing commands (``rxring box|site|patient --backend neo4j``) are thin shells
over these functions.  Every query is a shipped Cypher file over the model of
DESIGN §4 (``rxring/rules/cypher``: ``box_chain``, ``box_exists``, ``site_summary``,
``site_events``, ``patient_events``, ``patient_exists``, ``graph_prepared``; for the
workbench, ``rxring serve --backend neo4j``, also ``prescriber_events`` and
``neighbours``), one
parameterised statement an investigator can paste into Neo4j Browser or run with
``rxring neo4j run NAME --param ...``.  Rows come back as a :class:`pandas.DataFrame`
with the columns of :func:`rxring.results.box_timeline` (the embedded twin), so the
same table code prints both.

Events that the rules do not count are kept out of the graph by the loader (NHSA
3507 deletions, repeated event ids); after ``rxring analyze --backend neo4j`` the
events also carry the marks of ``prepare.cypher``, which become the ``note`` column
("same sale reported again (counted once)", "cancelled by a refund").
"""

from __future__ import annotations

import pandas as pd

from ...errors import RxringError
from ...rules.render import cypher_statements

__all__ = ["TIMELINE_COLUMNS", "PAGE_COLUMNS", "NEIGHBOUR_COLUMNS", "box_chain", "site_events", "patient_events",
           "prescriber_events", "neighbours", "graph_is_prepared"]

#: Columns of every listing, as :func:`rxring.results.box_timeline` returns them.
TIMELINE_COLUMNS = ("event_id", "event_type", "event_time", "trace_code", "site_id", "patient_id", "prescriber_id",
                    "settlement_id", "product_code", "batch", "expiry", "quantity", "split_sale", "fund_amount",
                    "total_amount", "counterparty", "source_file", "source_line", "note")
#: Event columns the listings can add for a page (``extra``): what the workbench shows beside the chain.
PAGE_COLUMNS = ("product_name", "pharmacist_id")
#: Columns of :func:`neighbours`, as :func:`rxring.results.actor_neighbours` returns them.
NEIGHBOUR_COLUMNS = ("kind", "id", "relation", "boxes", "fund", "first_time", "last_time", "total", "total_boxes",
                     "total_fund", "total_first", "total_last")


def _query(name: str) -> str:
    """The one statement of ``rxring/rules/cypher/<name>.cypher``."""
    (statement,) = cypher_statements(name)
    return statement


def graph_is_prepared(driver, database: str | None = None) -> bool:
    """Whether the rules ran on this graph (``prepare.cypher`` marked its events)."""
    records, _, _ = driver.execute_query(_query("graph_prepared"), database_=database)
    return bool(records[0]["prepared"])


def _native(value):
    return value.to_native() if value is not None and hasattr(value, "to_native") else value


def _frame(records, prepared: bool, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    rows = []
    for record in records:
        row = record.data()
        rescan, net = row.pop("rescan"), row.pop("net")
        for key in ("event_time", "expiry"):
            row[key] = _native(row[key])
        note = ""
        if rescan:
            note = "same sale reported again (counted once)"
        elif prepared and row["event_type"] == "dispense" and not net:
            note = "cancelled by a refund"
        row["note"] = note
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(TIMELINE_COLUMNS) + [c for c in extra if c in PAGE_COLUMNS])
    frame["event_time"] = pd.to_datetime(frame["event_time"])
    for column in ("quantity", "fund_amount", "total_amount"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def _check_limit(limit: int | None) -> int:
    if limit is None or limit == 0:
        return 2 ** 62
    if limit < 0:
        raise RxringError(f"--limit must be 0 (all) or more, not {limit}")
    return int(limit)


def box_chain(driver, trace_code: str, database: str | None = None, where: str = "",
              extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """The chain of custody of one box: its events along ``(:Event)-[:NEXT]->(:Event)``.

    Parameters
    ----------
    driver : neo4j.Driver
        An open driver (:func:`rxring.backends.neo4j.connect.connect`).
    trace_code : str
        The canonical trace code (:func:`rxring.results.canonical_code`).
    database : str, optional
        Database name (default: the server's default).
    where : str
        The server, for the error message (``Neo4jConfig.describe()``).
    extra : tuple of str
        Columns of :data:`PAGE_COLUMNS` to add after the note.

    Returns
    -------
    pandas.DataFrame
        One row per event in custody order (:data:`TIMELINE_COLUMNS`, then *extra*).

    Raises
    ------
    RxringError
        When the graph holds no box with this code.

    Examples
    --------
    >>> with connect(resolve_config()) as driver:                  # doctest: +SKIP
    ...     box_chain(driver, "81234560000000000011")[["event_type", "site_id"]]
    """
    records, _, _ = driver.execute_query(_query("box_exists"), code=trace_code, database_=database)
    if not records or records[0]["events"] == 0:
        raise RxringError(f"trace code {trace_code} is not in the Neo4j graph at {where or 'the server'}; "
                          f"load the workspace with `rxring load --workspace WS`")
    records, _, _ = driver.execute_query(_query("box_chain"), code=trace_code, database_=database)
    return _frame(records, graph_is_prepared(driver, database), extra)


def site_events(driver, site_id: str, database: str | None = None, limit: int | None = 50,
                where: str = "", extra: tuple[str, ...] = ()) -> tuple[dict, pd.DataFrame]:
    """A site's node properties and event counts, and its latest ``limit`` events (time order;
    *extra* as for :func:`box_chain`).

    Returns
    -------
    (dict, pandas.DataFrame)
        ``{name, kind, chain, region, events, event_types, first_time, last_time}`` and
        the events (:data:`TIMELINE_COLUMNS`); ``limit`` 0 or None gives every event.

    Raises
    ------
    RxringError
        When the graph holds no site with this id.
    """
    limit = _check_limit(limit)
    records, _, _ = driver.execute_query(_query("site_summary"), site=site_id, database_=database)
    if not records:
        raise RxringError(f"site {site_id} is not in the Neo4j graph at {where or 'the server'}; "
                          f"load the workspace with `rxring load --workspace WS`")
    summary = records[0].data()
    for key in ("first_time", "last_time"):
        if summary[key] is not None and hasattr(summary[key], "to_native"):
            summary[key] = summary[key].to_native()
    summary["event_types"] = sorted(summary["event_types"])
    summary.pop("types", None)
    records, _, _ = driver.execute_query(_query("site_events"), site=site_id, limit=limit, database_=database)
    return summary, _frame(records, graph_is_prepared(driver, database), extra)


def patient_events(driver, patient_id: str, database: str | None = None, limit: int | None = None,
                   where: str = "", shown_id: str | None = None, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """The events dispensed or refunded to one patient (``(:Event)-[:TO]->(:Patient)``), in time order.

    ``shown_id`` is how the patient is named in an error message (masked by the CLI);
    *extra* as for :func:`box_chain`.

    Raises
    ------
    RxringError
        When the graph holds no event of this patient.
    """
    limit = _check_limit(limit)
    records, _, _ = driver.execute_query(_query("patient_exists"), patient=patient_id, database_=database)
    if not records or records[0]["events"] == 0:
        raise RxringError(f"patient {shown_id or patient_id} is not in the Neo4j graph at {where or 'the server'}")
    records, _, _ = driver.execute_query(_query("patient_events"), patient=patient_id, limit=limit, database_=database)
    return _frame(records, graph_is_prepared(driver, database), extra)


def prescriber_events(driver, prescriber_id: str, database: str | None = None, limit: int | None = 50,
                      extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """The latest ``limit`` events of one prescriber's prescriptions (``(:Event)-[:BY]->(:Prescriber)``),
    in time order (*extra* as for :func:`box_chain`); empty when the graph has none."""
    records, _, _ = driver.execute_query(_query("prescriber_events"), prescriber=prescriber_id,
                                         limit=_check_limit(limit), database_=database)
    return _frame(records, graph_is_prepared(driver, database), extra)


def neighbours(driver, kind: str, key: str, database: str | None = None, limit: int = 40, offset: int = 0,
               relations=None) -> pd.DataFrame:
    """Who a site, patient or prescriber is joined to through its boxes, strongest first
    (``neighbours.cypher``): the graph's twin of :func:`rxring.results.actor_neighbours`,
    with its relations, columns (:data:`NEIGHBOUR_COLUMNS`), paging and totals."""
    if kind not in ("site", "patient", "prescriber"):
        raise RxringError(f"kind must be site, patient or prescriber, not {kind!r}")
    params = {"kind": kind, "key": key, "limit": int(limit), "offset": int(offset),
              "relations": None if relations is None else list(relations)}
    records, _, _ = driver.execute_query(_query("neighbours"), params, database_=database)
    rows = [{k: _native(v) for k, v in record.data().items()} for record in records]
    frame = pd.DataFrame(rows, columns=list(NEIGHBOUR_COLUMNS))
    for column in ("first_time", "last_time", "total_first", "total_last"):
        frame[column] = pd.to_datetime(frame[column])
    return frame
