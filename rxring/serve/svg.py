"""Small server-drawn SVG charts (no script needed): weekly bars and a box's custody lanes.

Every text placed in the SVG goes through :func:`rxring.report.htmlkit.esc`; the
result is returned as :class:`markupsafe.Markup` for the autoescaping templates.
"""

from __future__ import annotations

import pandas as pd
from markupsafe import Markup

from ..report.htmlkit import esc

__all__ = ["weekly_svg", "lanes_svg", "EVENT_COLORS"]

#: The widest bar of :func:`weekly_svg` (px of its 900-wide view box).
MAX_BAR = 48

EVENT_COLORS = {
    "inbound": "#59a14f", "transfer_in": "#8cd17d", "dispense": "#4e79a7", "refund": "#f28e2b",
    "transfer_out": "#b6992d", "purchase_return": "#9c755f", "adjust": "#bab0ac", "inventory": "#79706e",
}


def weekly_svg(weeks: dict, colors: dict, width: int = 900, height: int = 220) -> Markup:
    """Stacked bars, one per week: *weeks* maps a week's first day to ``{series: count}``."""
    if not weeks:
        return Markup("")
    keys = sorted(weeks)
    totals = [sum(weeks[k].values()) for k in keys]
    top = max(max(totals), 1)
    left, bottom, right = 40, 40, 10
    plot_w, plot_h = width - left - right, height - bottom - 10
    bar = min(plot_w / len(keys), MAX_BAR)     # a few weeks stay bars, not a wall
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img">',
             f'<line x1="{left}" y1="{10 + plot_h}" x2="{width - right}" y2="{10 + plot_h}" stroke="#888"/>',
             f'<text x="{left - 4}" y="16" text-anchor="end" class="axis">{top}</text>',
             f'<text x="{left - 4}" y="{10 + plot_h}" text-anchor="end" class="axis">0</text>']
    step = max(1, len(keys) // 8)
    for i, week in enumerate(keys):
        x = left + i * bar
        y = 10 + plot_h
        for series, count in weeks[week].items():
            if not count:
                continue
            h = plot_h * count / top
            y -= h
            parts.append(f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(bar - 2, 1):.1f}" height="{h:.1f}" '
                         f'fill="{esc(colors.get(series, "#888"))}"><title>{esc(week)} {esc(series)}: {count}</title></rect>')
        if i % step == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - 22}" text-anchor="middle" class="axis">'
                         f'{esc(week[5:])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def lanes_svg(events: list[dict], type_label, width: int = 1000) -> Markup:
    """A box's chain of custody: one lane per site (in order of first appearance), events as dots in time,
    joined in custody order; offending events (named by a finding) ringed in red."""
    if not events:
        return Markup("")
    sites: list[str] = []
    for event in events:
        if event["site"]["id"] not in sites:
            sites.append(event["site"]["id"])
    names = {e["site"]["id"]: e["site"]["label"] for e in events}
    times = [pd.Timestamp(e["event_time"]) for e in events]
    t0, t1 = min(times), max(times)
    span = max((t1 - t0).total_seconds(), 1.0)
    left, lane_h, top = 260, 46, 20
    plot_w = width - left - 30
    height = top + lane_h * len(sites) + 30
    parts = [f'<svg class="lanes" viewBox="0 0 {width} {height}" role="img">']
    for i, site in enumerate(sites):
        y = top + i * lane_h + lane_h / 2
        parts.append(f'<line x1="{left}" y1="{y}" x2="{width - 20}" y2="{y}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 8}" y="{y + 4}" text-anchor="end" class="lane">{esc(names[site][:36])}</text>')
    points = []
    for event, when in zip(events, times):
        x = left + plot_w * (when - t0).total_seconds() / span
        y = top + sites.index(event["site"]["id"]) * lane_h + lane_h / 2
        points.append((x, y, event))
    parts.append('<polyline fill="none" stroke="#999" stroke-dasharray="4 3" points="'
                 + " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points) + '"/>')
    for x, y, event in points:
        color = EVENT_COLORS.get(event["event_type"], "#888")
        ring = ' stroke="#d00" stroke-width="4"' if event["offending"] else ' stroke="#fff" stroke-width="1"'
        cls = "dot offending" if event["offending"] else "dot"
        tip = f'{event["event_time"]} {type_label(event["event_type"])} {event["site"]["label"]}'
        parts.append(f'<circle class="{cls}" cx="{x:.1f}" cy="{y:.1f}" r="8" fill="{color}"{ring}>'
                     f'<title>{esc(tip)}</title></circle>')
        parts.append(f'<text x="{x:.1f}" y="{y - 12:.1f}" text-anchor="middle" class="evt">'
                     f'{esc(type_label(event["event_type"]))}</text>')
    parts.append(f'<text x="{left}" y="{height - 8}" class="axis">{esc(str(t0)[:16])}</text>')
    parts.append(f'<text x="{width - 20}" y="{height - 8}" text-anchor="end" class="axis">{esc(str(t1)[:16])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
