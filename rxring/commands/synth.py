"""CLI commands for synth (assembled by rxring.cli): ``rxring synth``."""

from __future__ import annotations

import click

from ..synth import generate
from ..synth.nhsa_styles import NHSA_STYLES
from ..synth.writers import FORMATS
from . import options as opt

__all__ = ["COMMANDS", "synth"]


@click.command("synth")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write: inputs/ (scan files and master tables) and ground_truth.json.")
@click.option("--seed", default=0, show_default=True, type=int, help="Same seed and sizes give byte-identical files.")
@click.option("--format", "fmt", default="nhsa", show_default=True, type=click.Choice(FORMATS),
              help="nhsa: NHSA 进销存 JSON Lines; csv: Chinese-header export; parquet: canonical events; "
                   "epcis: GS1 EPCIS 2.0 JSON-LD with SGTIN codes.")
@click.option("--nhsa-style", "nhsa_style", default="mixed", show_default=True, type=click.Choice(NHSA_STYLES),
              help="How --format nhsa reports the same events: single: one 3501-3506 message per line; "
                   "batch: 3501A-3506A uploads of several rows; settlement: insured sales through settlement "
                   "channel A (2204/2207, 2301/2304 with fee details), the rest 3501-3506; mixed: a style per site, "
                   "plus sales reported through both channels, retransmissions under new msgids, cancelled "
                   "settlements (2208/2305) and reversals (2601). Findings and ground truth are the same in every style.")
@click.option("--events", type=click.IntRange(min=1000), default=None,
              help="Target number of scan events; sizes the city (patients, sites, prescribers) unless given.")
@click.option("--sites", type=click.IntRange(min=1), default=None, help="Pharmacies, hospitals and clinics [default: patients/150, at least 10].")
@click.option("--patients", type=click.IntRange(min=1), default=None, help="Insured patients [default: 3000, or from --events].")
@click.option("--prescribers", type=click.IntRange(min=1), default=None, help="Doctors [default: patients/45].")
@click.option("--products", type=click.IntRange(min=1), default=None, help="Drug products, most common first [default: all 52].")
@click.option("--days", default=120, show_default=True, type=click.IntRange(min=1), help="Simulated days.")
@click.option("--start", default="2025-01-01", show_default=True, help="First simulated day (YYYY-MM-DD).")
@click.option("--rings", type=click.IntRange(min=0), default=None, help="Planted rings [default: grows with the city, at least 9].")
@opt.progress_option(None, "Progress bar on stderr.")
def synth(out_dir, seed, fmt, nhsa_style, events, sites, patients, prescribers, products, days, start, rings, progress):
    """Generate a synthetic city with planted resale rings and its ground truth.

    Writes OUT/inputs/ (scan files, sites.csv, products.csv) to feed to
    `rxring analyze OUT/inputs`, and OUT/ground_truth.json (planted rings by role,
    every expected finding, and the legitimate traps).
    """
    import sys

    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    callback = None
    if show:
        from tqdm import tqdm

        bar = tqdm(total=days, unit="day", desc="synth", file=sys.stderr)

        def callback(day, _days):
            bar.update(day - bar.n)

    try:
        summary = generate(out_dir, seed, sites=sites, patients=patients, prescribers=prescribers,
                           products=products, days=days, start=start, events=events, rings=rings, fmt=fmt,
                           nhsa_style=nhsa_style, progress=callback)
    finally:
        if bar is not None:
            bar.close()
    c = summary.counts
    p = summary.params
    click.echo(f"city: {p.sites} sites, {p.patients} patients, {p.prescribers} prescribers, {p.products} products, "
               f"{p.days} days from {p.start}")
    click.echo(f"wrote {c['events']:,} events in {c['lines']:,} lines to {len(summary.files)} files in "
               f"{summary.inputs_dir} ({fmt}{', ' + nhsa_style if fmt == 'nhsa' else ''}) in {summary.seconds:.1f}s")
    rules = ", ".join(f"{r} {c.get('expected_' + r, 0)}" for r in
                      ("DUP_DISPENSE", "RESURFACE", "NO_PROVENANCE", "CODE_CONFLICT", "EXPIRED"))
    click.echo(f"planted {c['rings']} rings; expected findings: {rules}")
    click.echo(f"ground truth: {summary.ground_truth}")
    click.echo(f"next: rxring analyze {summary.inputs_dir} --workspace {summary.out_dir / 'workspace'}")


COMMANDS = [synth]
