"""``generate``: a whole synthetic city on disk (inputs, master tables, ground truth).

Layout of ``out_dir``::

    inputs/nhsa-YYYY-MM.jsonl     (or export-*.csv, events-*.parquet, epcis-*.jsonld)
    inputs/sites.csv              site_id,name,kind,chain,region
    inputs/products.csv           product_code,name,pack_units,price
    ground_truth.json             rings, expected findings and traps (see rxring.synth)

Feed ``out_dir/inputs`` to ``rxring analyze``; ``ground_truth.json`` stays outside
so that it is never read as an input.
"""

from __future__ import annotations

import csv
import json
import resource
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np

from ..errors import RxringError
from .catalog import DRUGS
from .city import build_city
from .fraud import STYLES, RingBook
from .groundtruth import build_ground_truth
from .life import Engine
from .nhsa_styles import NHSA_STYLES
from .writers import FORMATS, make_writer

__all__ = ["SynthParams", "GenerationSummary", "generate", "events_per_patient"]

# Measured on generated cities (all formats write the same events): events per patient per day,
# about 0.18 in steady state plus the first deliveries that fill the shelves.
EVENTS_PER_PATIENT_DAY = 0.176


def events_per_patient(days: int) -> float:
    """Expected events per patient over ``days`` days (used to size a city for ``--events``)."""
    return EVENTS_PER_PATIENT_DAY * days + 0.6


@dataclass(frozen=True)
class SynthParams:
    """Size and shape of a synthetic city; ``resolved()`` fills what was left to defaults.

    With ``events`` given, the number of patients (and from it sites and
    prescribers) is chosen so that about that many events are written.
    """

    seed: int = 0
    sites: int | None = None
    patients: int | None = None
    prescribers: int | None = None
    products: int | None = None
    days: int = 120
    start: str = "2025-01-01"
    events: int | None = None
    rings: int | None = None
    fmt: str = "nhsa"
    nhsa_style: str = "mixed"

    def resolved(self) -> "SynthParams":
        if self.fmt not in FORMATS:
            raise RxringError(f"unknown format {self.fmt!r}: choose one of {', '.join(FORMATS)}")
        if self.nhsa_style not in NHSA_STYLES:
            raise RxringError(f"unknown NHSA style {self.nhsa_style!r}: choose one of {', '.join(NHSA_STYLES)}")
        if self.days < 14:
            raise RxringError(f"--days must be at least 14 (got {self.days}): rings need time to resurface")
        try:
            date.fromisoformat(self.start)
        except ValueError:
            raise RxringError(f"--start must be a date like 2025-01-01 (got {self.start!r})") from None
        patients = self.patients
        if patients is None:
            patients = int(self.events / events_per_patient(self.days)) if self.events else 3000
        if patients < 300:
            raise RxringError(f"a city needs at least 300 patients (got {patients}); raise --patients or --events")
        sites = self.sites if self.sites is not None else int(np.clip(round(patients / 150), 10, 5000))
        prescribers = self.prescribers if self.prescribers is not None else int(np.clip(round(patients / 45), 12, 20000))
        products = self.products if self.products is not None else len(DRUGS)
        if sites < 6:
            raise RxringError(f"a city needs at least 6 sites (got {sites})")
        if prescribers < 3:
            raise RxringError(f"a city needs at least 3 prescribers (got {prescribers})")
        if not 8 <= products <= len(DRUGS):
            raise RxringError(f"--products must be between 8 and {len(DRUGS)} (got {products})")
        rings = self.rings if self.rings is not None else int(np.clip(round(patients / 1500), len(STYLES), 80))
        if rings < 0:
            raise RxringError("--rings cannot be negative")
        return replace(self, sites=sites, patients=patients, prescribers=prescribers, products=products, rings=rings)


@dataclass
class GenerationSummary:
    """What :func:`generate` wrote."""

    out_dir: Path
    inputs_dir: Path
    files: list[Path]
    ground_truth: Path
    params: SynthParams
    counts: dict = field(default_factory=dict)
    seconds: float = 0.0
    peak_rss_mb: float = 0.0

    @property
    def events(self) -> int:
        return int(self.counts.get("events", 0))

    @property
    def inputs(self) -> list[Path]:
        """What to pass to ingest/analyze."""
        return [self.inputs_dir]


def _write_masters(inputs: Path, city) -> list[Path]:
    sites = inputs / "sites.csv"
    with open(sites, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["site_id", "name", "kind", "chain", "region"])
        for s in city.sites:
            w.writerow([s.site_id, s.name, s.kind, s.chain, s.region])
    products = inputs / "products.csv"
    with open(products, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["product_code", "name", "pack_units", "price"])
        for p in city.products:
            w.writerow([p.code, p.name, p.pack_units, repr(float(p.price))])
    return [sites, products]


def generate(out_dir, seed: int = 0, *, sites: int | None = None, patients: int | None = None,
             prescribers: int | None = None, products: int | None = None, days: int = 120,
             start: str = "2025-01-01", events: int | None = None, rings: int | None = None,
             fmt: str = "nhsa", nhsa_style: str = "mixed", progress=None) -> GenerationSummary:
    """Generate a synthetic city with planted resale rings into ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Created if missing; an existing ``inputs/`` folder in it is replaced.
    seed : int
        Same seed and sizes → byte-identical files.
    sites, patients, prescribers, products, days : int, optional
        City size; unset ones follow from ``events`` or defaults.
    start : str
        First simulated day (ISO date).
    events : int, optional
        Target number of scan events (±15 %).
    rings : int, optional
        Number of planted rings (default grows with the city, at least 8).
    fmt : {"nhsa", "csv", "parquet", "epcis"}
        Output format of the scan inputs.
    nhsa_style : {"mixed", "single", "batch", "settlement"}
        How ``fmt="nhsa"`` reports the events (:mod:`rxring.synth.nhsa_styles`): ``single``
        3501-3506 messages (the shape before styles existed, byte for byte), ``batch``
        3501A-3506A, ``settlement`` insured sales through 2204/2207 (2301/2304) with
        fee details, ``mixed`` a style per site plus sales through both channels,
        retransmissions, cancellations and reversals.  The events, findings and
        ground truth are the same in every style.  Ignored by the other formats.
    progress : callable, optional
        ``progress(day, days)`` after each simulated day.

    Returns
    -------
    GenerationSummary

    Examples
    --------
    >>> import tempfile
    >>> s = generate(tempfile.mkdtemp(), seed=1, patients=400, days=30)
    >>> s.ground_truth.name, s.events > 1000
    ('ground_truth.json', True)
    """
    began = time.perf_counter()
    params = SynthParams(seed=seed, sites=sites, patients=patients, prescribers=prescribers, products=products,
                         days=days, start=start, events=events, rings=rings, fmt=fmt,
                         nhsa_style=nhsa_style).resolved()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise RxringError(f"--out {out} exists and is not a folder")
    inputs = out / "inputs"
    if inputs.exists():
        shutil.rmtree(inputs)
    inputs.mkdir(parents=True)
    seeds = np.random.SeedSequence(seed).spawn(3)
    city = build_city(np.random.default_rng(seeds[0]), params.sites, params.patients, params.prescribers,
                      params.products, gs1=fmt == "epcis")
    start_day = date.fromisoformat(params.start)
    writer = make_writer(fmt, inputs, city, start_day, int(seeds[1].generate_state(1)[0]), params.nhsa_style)

    def sink(day, lines):
        writer.write_day(day, lines)
        if progress is not None:
            progress(day + 1, params.days)

    engine = Engine(city, params.days, start_day, int(seeds[2].generate_state(1)[0]), sink,
                    short_lots=max(4, params.patients * params.days // 150_000), allow_split=fmt != "epcis")
    book = RingBook(engine, params.rings, seed, skip_styles=("code_swap",) if fmt == "epcis" else ())
    engine.run()
    files = writer.close()
    files += _write_masters(inputs, city)
    # the style only means something for nhsa (and single keeps ground_truth.json as it always was)
    param_dict = {k: v for k, v in asdict(params).items()
                  if k != "nhsa_style" or (fmt == "nhsa" and v != "single")}
    truth = build_ground_truth(engine, book, fmt, seed, param_dict)
    truth["counts"]["lines"] = writer.lines
    truth["counts"]["files"] = len(files)
    for what, n in sorted(getattr(writer, "extra_counts", {}).items()):
        truth["counts"][f"nhsa_{what}"] = n
    gt = out / "ground_truth.json"
    gt.write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return GenerationSummary(
        out_dir=out, inputs_dir=inputs, files=files, ground_truth=gt, params=params, counts=truth["counts"],
        seconds=time.perf_counter() - began,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
