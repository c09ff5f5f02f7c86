"""The HTML report: an index page (sortable ring table) and one page per ring.

Pages are static, escape every value, carry a no-network CSP, and link each other
with relative file names, so the folder can be copied to a USB stick and opened
anywhere.  The top rings also get their visualisation page beside them.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..version import __version__
from ..cases.exceptions import set_aside_note
from .data import CaseData, period, read_ring_events
from .htmlkit import esc, page, safe_name
from .i18n import label, rule_text
from .pii import Masker
from .tables import NUMERIC, TABLES, cell_text, finding_rows, headers, member_rows, ring_rows
from .viz import viz_html

__all__ = ["write_html_report", "ring_page_name", "VIZ_TOP", "PAGE_ROWS"]

# Rings (by rank) that get a visualisation page in the HTML report.
VIZ_TOP = 20
# Rows of a ring page's member and finding tables shown at most; every row is in the CSV and XLSX reports.
PAGE_ROWS = 2000


def ring_page_name(ring_id) -> str:
    """File name of a ring's page inside the report folder."""
    return f"ring-{safe_name(ring_id)}.html"


def _viz_page_name(ring_id) -> str:
    return f"viz-{safe_name(ring_id)}.html"


def _sort_js() -> str:
    return resources.files("rxring.report").joinpath("templates", "sort.js").read_text(encoding="utf-8")


def _td(key: str, value) -> str:
    text = esc(cell_text(key, value))
    if (key in NUMERIC or isinstance(value, (int, float))) and value is not None and not isinstance(value, bool):
        return f'<td class="num" data-sort="{esc(value)}">{text}</td>'
    if key in ("first_time", "last_time"):
        return f'<td data-sort="{esc(cell_text(key, value))}">{text}</td>'
    return f"<td>{text}</td>"


def _table(table: str, rows: list[dict], lang: str, link_rings: bool = False, keys=None) -> str:
    keys = keys or TABLES[table]
    names = dict(zip(TABLES[table], headers(table, lang)))
    head = "".join(f"<th>{esc(names[k])}</th>" for k in keys)
    body = []
    for row in rows:
        cells = []
        for key in keys:
            if key == "ring_id" and link_rings:
                href = esc(ring_page_name(row["ring_id"]))
                cells.append(f'<td><a href="{href}">{esc(row["ring_id"])}</a></td>')
            else:
                cells.append(_td(key, row.get(key)))
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>\n' + "\n".join(body) + "\n</tbody></table>"


def _page_table(table: str, rows: list[dict], lang: str, keys, ring_id) -> list[str]:
    """A ring page's table: its first :data:`PAGE_ROWS` rows, and when there are more, a note that says
    where all of them are (a ring of a province stays a page a browser opens)."""
    if len(rows) <= PAGE_ROWS:
        return [_table(table, rows, lang, keys=keys)]
    note = label("first_rows", lang, n=f"{PAGE_ROWS:,}", total=f"{len(rows):,}", ring=ring_id)
    return [f'<p class="note">{esc(note)}</p>', _table(table, rows[:PAGE_ROWS], lang, keys=keys)]


def _meta(lang: str, masker: Masker, generated: str) -> str:
    pii = label("pii_revealed" if masker.reveal else "pii_masked", lang)
    return (
        f'<p class="note">{esc(label("generated", lang))}: {esc(generated)} · '
        f'{esc(label("tool_version", lang))}: rxring {esc(__version__)} · '
        f'<span class="{"pii" if masker.reveal else ""}">{esc(pii)}</span></p>'
    )


def _index(case, rings, lang, masker, generated) -> str:
    title = label("report_title", lang)
    rows = ring_rows(case, rings, masker)
    body = [f"<h1>{esc(title)}</h1>", _meta(lang, masker, generated)]
    if set_aside := set_aside_note(case.analysis, lang):
        body.append(f'<p class="note">{esc(set_aside)}</p>')
    if not rows:
        body.append(f"<p>{esc(label('no_rings', lang))}</p>")
    else:
        body.append(f'<p class="note">{esc(label("click_to_sort", lang))}</p>')
        body.append(_table("rings", rows, lang, link_rings=True))
    return page(title, "\n".join(body), lang, scripts=[_sort_js()])


def _ring_page(case, ring, lang, masker, generated, has_viz: bool, index_name: str = "index.html") -> str:
    title = label("ring_title", lang, ring_id=ring["ring_id"])
    ring_row = ring_rows(case, [ring], masker)[0]
    members = member_rows(case, [ring], masker, lang)
    findings = finding_rows(case, [ring], masker, lang)
    facts = [
        ("rank", ring_row["rank"]),
        ("score", ring_row["score"]),
        ("boxes", ring_row["boxes"]),
        ("events", ring_row["events"]),
        ("fund_at_risk", ring_row["fund_at_risk"]),
        ("total_amount", ring_row["total_amount"]),
    ]
    fact_rows = "".join(f"<tr><th>{esc(label(k, lang))}</th>{_td(k, v)}</tr>" for k, v in facts)
    fact_rows += f"<tr><th>{esc(label('period', lang))}</th><td>{esc(period(ring['first_time'], ring['last_time']))}</td></tr>"
    rules = "".join(
        f"<li><b>{esc(r)}</b>: {esc(rule_text(r, lang))}</li>" for r in ring["rules"]
    )
    body = [
        f'<p><a href="{esc(index_name)}">{esc(label("back_to_index", lang))}</a></p>',
        f"<h1>{esc(title)}</h1>",
        _meta(lang, masker, generated),
        f"<h2>{esc(label('summary', lang))}</h2><table>{fact_rows}</table>",
        f"<h2>{esc(label('rules', lang))}</h2><ul>{rules}</ul>",
    ]
    if has_viz:
        body.append(f'<p><a href="{esc(_viz_page_name(ring["ring_id"]))}">{esc(label("viz_title", lang))}</a></p>')
    member_keys = ("role", "member_id", "name", "boxes", "events", "fund_amount", "findings_count")
    body.append(f"<h2>{esc(label('members', lang))} ({len(members)})</h2>")
    body += _page_table("members", members, lang, member_keys, ring["ring_id"])
    finding_keys = ("finding_id", "rule", "trace_codes", "source_sites", "laundering_sites", "source_patients",
                    "prescribers", "fund_amount", "first_time", "last_time", "explanation")
    body.append(f"<h2>{esc(label('findings', lang))} ({len(findings)})</h2>")
    body += _page_table("findings", findings, lang, finding_keys, ring["ring_id"])
    return page(title, "\n".join(body), lang, scripts=[_sort_js()])


def write_html_report(case: CaseData, rings: list[dict], output: Path, lang: str, masker: Masker,
                      generated: str, viz_top: int = VIZ_TOP) -> Path:
    """Write ``index.html`` and one page per ring into the folder ``output``; return the index path.

    If ``output`` ends in ``.html`` it is the index file itself and ring pages go beside it.
    """
    if output.suffix.lower() in (".html", ".htm"):
        folder, index = output.parent, output
    else:
        folder, index = output, output / "index.html"
    folder.mkdir(parents=True, exist_ok=True)
    index.write_text(_index(case, rings, lang, masker, generated), encoding="utf-8")
    read_ring_events(case, rings[:viz_top])  # the events of every visualisation page, in one scan
    for position, ring in enumerate(rings):
        has_viz = position < viz_top
        if has_viz:
            document = viz_html(case, [str(ring["ring_id"])], lang=lang, reveal_pii=masker.reveal)
            (folder / _viz_page_name(ring["ring_id"])).write_text(document, encoding="utf-8")
        (folder / ring_page_name(ring["ring_id"])).write_text(
            _ring_page(case, ring, lang, masker, generated, has_viz, index.name), encoding="utf-8"
        )
    return index
