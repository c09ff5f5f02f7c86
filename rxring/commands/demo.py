"""`rxring demo`: generate, analyse and report a synthetic city (assembled by rxring.cli)."""

from __future__ import annotations

import sys
import time

import click

from ..demo import run_demo
from . import options as opt
from .output import mask_frame, ring_table


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="rxring-demo", show_default=True,
              help="Folder for the city, the workspace, the report and the visualisation.")
@click.option("--seed", type=int, default=2026, show_default=True, help="Seed of the city and of community detection.")
@click.option("--events", type=click.IntRange(min=5_000), default=200_000, show_default=True,
              help="Size of the city in scan events.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Report language.")
@opt.progress_option(None)
def demo(out_dir, seed, events, lang, progress):
    """Run the whole product on a synthetic city: generate about 200k scan events with
    planted resale rings, analyse them on the embedded backend (no server, no
    network), write the ring report and visualisation, and compare with the truth."""
    if progress is None:
        progress = sys.stderr.isatty()
    started = time.monotonic()
    click.echo(f"Generating a synthetic city of about {events:,} scan events (seed {seed}) …")
    result = run_demo(out_dir, seed=seed, events=events, lang=lang, progress=progress)
    rings = result.analysis.rings
    click.echo(f"{len(result.analysis.findings):,} findings, {len(rings)} rings; "
               f"planted rings found: {result.planted_rings_found} of {result.planted_rings} "
               f"(member sets Jaccard ≥ 0.8) in {time.monotonic() - started:.0f} s.")
    if len(rings):
        click.echo("")
        click.echo(ring_table(mask_frame(rings, False), limit=5))
    click.echo("")
    click.echo(f"Open the ring report:         {result.report_index.resolve().as_uri()}")
    click.echo(f"Open the ring visualisation:  {result.visualisation.resolve().as_uri()}")
    click.echo(f"Explore on the command line:  rxring rings -w {result.workspace}")
    first = rings["ring_id"].iloc[0] if len(rings) else None
    if first:
        click.echo(f"                              rxring ring {first} -w {result.workspace}")
        click.echo(f"Evidence package for police:  rxring evidence {first} -w {result.workspace} -o {first}.zip")
    click.echo(f"Explore in the browser:       rxring serve -w {result.workspace}")


COMMANDS = [demo]
