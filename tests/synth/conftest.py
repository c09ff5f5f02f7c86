"""Small generated cities shared by the synth tests (generated once per session; the NHSA one is the
session's shared ``city`` of tests/conftest.py)."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from rxring.synth import generate

SMALL = dict(patients=1500, days=60)


class City:
    def __init__(self, summary):
        self.summary = summary
        self.truth = json.loads(summary.ground_truth.read_text(encoding="utf-8"))
        self.inputs = summary.inputs_dir
        self._events = None

    @property
    def products(self) -> pd.DataFrame:
        return pd.read_csv(self.inputs / "products.csv", dtype={"product_code": str})

    @property
    def sites(self) -> pd.DataFrame:
        return pd.read_csv(self.inputs / "sites.csv", dtype=str, keep_default_na=False)

    @property
    def pack_units(self) -> dict:
        p = self.products
        return dict(zip(p.product_code, p.pack_units))

    def events(self) -> pd.DataFrame:
        """Canonical events (parquet cities only), in file order."""
        if self._events is None:
            parts = sorted(self.inputs.glob("events-*.parquet"))
            frame = pd.concat([pq.read_table(p).to_pandas() for p in parts], ignore_index=True)
            frame["order"] = range(len(frame))
            self._events = frame
        return self._events


@pytest.fixture(scope="session")
def nhsa_city(city):
    """The session's shared NHSA city (``city`` of tests/conftest.py), seen as a synth :class:`City`."""
    return City(city.summary)


@pytest.fixture(scope="session")
def make_city(tmp_path_factory, request):
    """``make_city(fmt, seed, nhsa_style="mixed", **size)``: a generated city, once per session per arguments.

    ``make_city("nhsa")`` with no seed and no size is the session's shared city
    (:func:`nhsa_city`, the mixed NHSA style); ``make_city("nhsa", nhsa_style="single")``
    its seed and size written as single-row 3501-3506 messages (for tests of that
    shape); other cities default to seed 11 and :data:`SMALL`.
    """
    cache = {}

    def make(fmt: str = "parquet", seed: int | None = None, nhsa_style: str = "mixed", **size):
        if fmt == "nhsa" and seed is None and not size:
            shared = request.getfixturevalue("nhsa_city")
            if nhsa_style == "mixed":
                return shared
            # the shared city's seed and size, written in another style (not analysed)
            params = shared.summary.params
            seed, size = params.seed, dict(patients=params.patients, days=params.days)
        seed = 11 if seed is None else seed
        size = {**SMALL, **size}
        key = (fmt, seed, nhsa_style if fmt == "nhsa" else "", tuple(sorted(size.items())))
        if key not in cache:
            out = tmp_path_factory.mktemp(f"city-{fmt}-{seed}")
            cache[key] = City(generate(out, seed=seed, fmt=fmt, nhsa_style=nhsa_style, **size))
        return cache[key]

    return make


@pytest.fixture(scope="session")
def parquet_city(make_city):
    return make_city("parquet")
