"""The buffer-level string checks never miss work the general path would do."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.compute as pc

from rxring.ingest.strings import all_fixed_digits, fixed_slice, has_empty, may_need_trim

SPACES = [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\u00a0", "\u0085", "\u1680", "\u2000", "\u2007", "\u200a",
          "\u2028", "\u2029", "\u202f", "\u205f", "\u3000"]
WORDS = ["P1001", "阿莫西林", "布洛芬缓释胶囊", "「国药」", "。", "—", "é", "😀", "81151257914085623274", "x"]


def _random_values(rng: random.Random, n: int) -> list:
    values = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.05:
            values.append(None)
        elif roll < 0.1:
            values.append("")
        else:
            word = "".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))
            if rng.random() < 0.15:
                word = rng.choice(SPACES) + word
            if rng.random() < 0.15:
                word = word + rng.choice(SPACES)
            values.append(word)
    return values


def test_may_need_trim_and_has_empty_never_miss_work():
    rng = random.Random(5)
    for trial in range(400):
        values = _random_values(rng, rng.randint(0, 12))
        arr = pa.array(values, type=pa.string())
        if len(arr) > 2 and trial % 3 == 0:
            arr = arr.slice(1, len(arr) - 2)  # offsets not starting at 0
        py = arr.to_pylist()
        trimmed = pc.utf8_trim_whitespace(arr).to_pylist()
        if trimmed != py:
            assert may_need_trim(arr), py
        assert has_empty(arr) == any(v == "" for v in py), py


def test_clean_columns_are_recognised_as_clean():
    assert not may_need_trim(pa.array(["P1", "阿莫西林", None, "布洛芬 缓释", "😀"]))
    assert not has_empty(pa.array(["P1", None]))
    assert may_need_trim(pa.array(["P1", "阿莫西林\u3000"]))
    assert may_need_trim(pa.array(["\u00a0P1"]))
    assert not may_need_trim(pa.array([], type=pa.string()))
    assert not may_need_trim(pa.array([None, ""], type=pa.string()))


def test_fixed_digits_and_slices():
    codes = ["81151257914085623274", "86243404501030440001", "81151257914085620001"]
    arr = pa.array(["x"] + codes).slice(1)
    assert all_fixed_digits(arr, 20)
    assert fixed_slice(arr, 20, 0, 7).to_pylist() == [c[:7] for c in codes]
    assert fixed_slice(arr, 20, 7, 20).to_pylist() == [c[7:] for c in codes]
    assert not all_fixed_digits(pa.array(codes + [None]), 20)
    assert not all_fixed_digits(pa.array(codes + ["8115125791408562327"]), 20)
    assert not all_fixed_digits(pa.array(codes + ["8115125791408562327a"]), 20)
    assert not all_fixed_digits(pa.array(["٣" * 10]), 20)  # 20 bytes, not ASCII digits
    assert not all_fixed_digits(pa.array([], type=pa.string()), 20)
