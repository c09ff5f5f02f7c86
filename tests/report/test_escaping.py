"""Property tests: no value can break out of HTML, script data, Markdown or file names."""

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from rxring.report.htmlkit import esc, safe_name, script_json
from rxring.report.markdown import md_code
from rxring.report.pii import Masker, mask_value

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60) | st.sampled_from(
    ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "</script><!--", "``|`|", "\u2028", "=1+1"]
)


@settings(max_examples=300, deadline=None)
@given(text)
def test_esc_leaves_no_markup(value):
    out = esc(value)
    assert "<" not in out and ">" not in out and '"' not in out and "'" not in out
    assert "&" not in out.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "").replace(
        "&quot;", "").replace("&#x27;", "")


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(text, text, max_size=4))
def test_script_json_cannot_close_the_element_and_round_trips(data):
    out = script_json(data)
    assert "<" not in out and ">" not in out and "&" not in out and "\u2028" not in out
    assert json.loads(out) == data


@settings(max_examples=300, deadline=None)
@given(text)
def test_md_code_is_one_literal_code_span(value):
    out = md_code(value, table=True)
    flat = " ".join(value.split())
    if not flat:
        assert out == ""
        return
    fence = re.match(r"`+", out).group(0)
    assert out.endswith(fence) and "\n" not in out
    inner = out[len(fence):-len(fence)]
    # no backtick run inside is as long as the fence, so the span cannot end early
    assert all(len(run) < len(fence) for run in re.findall(r"`+", inner))
    # pipes are escaped for GFM tables
    assert re.search(r"(?<!\\)\|", inner) is None


@settings(max_examples=300, deadline=None)
@given(text)
def test_safe_name_is_a_plain_file_name(value):
    name = safe_name(value)
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", name) and not name.startswith(".") and "/" not in name


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=2, max_size=30).filter(lambda v: v.strip() == v and "*" not in v), text, text)
def test_known_values_never_survive_text_masking(secret, before, after):
    masker = Masker(known=[secret])
    out = masker.text(before + secret + after)
    # the secret's own occurrence is masked (others may overlap the surrounding text)
    assert mask_value(secret) in out or secret not in out
    assert (before + secret + after).count(secret) > out.count(secret) or secret not in out
