"""Each output format has the shapes of DESIGN §2 and /work/shared/examples."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict

import pyarrow.parquet as pq
import pytest

from rxring.ingest.codes import parse_code
from rxring.schema import EVENT_SCHEMA
from rxring.synth.codes import CodeFactory, gtin_check_digit
from rxring.synth.writers import CSV_HEADER

# Body fields of each interface as they appear in /work/shared/examples/nhsa-messages.jsonl
# (3501 is not in the examples: the NHSA 盘存 fields).
EXAMPLE_FIELDS = {
    "3503": {"med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name", "manu_lotnum", "expy_end", "rx_flag",
             "spler_name", "purc_invo_no", "purc_retn_cnt", "purc_retn_opter_name", "prod_geay_flag",
             "purc_retn_stoin_time", "fixmedins_bchno", "finl_trns_pric"},
    "3504": {"med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name", "manu_lotnum", "expy_end", "rx_flag",
             "spler_name", "purc_retn_cnt", "purc_retn_opter_name", "prod_geay_flag", "purc_retn_stoin_time",
             "fixmedins_bchno", "finl_trns_pric"},
    "3505": {"med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name", "manu_lotnum", "expy_end", "rx_flag",
             "psn_no", "psn_name", "prsc_dr_certno", "prsc_dr_name", "phar_certno", "setl_id", "mdtrt_setl_type",
             "hi_feesetl_type", "finl_trns_pric", "sel_retn_cnt", "sel_retn_time", "trdn_flag", "rxno",
             "fixmedins_bchno"},
    "3506": {"med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name", "manu_lotnum", "expy_end", "rx_flag",
             "psn_no", "setl_id", "sel_retn_cnt", "sel_retn_time", "trdn_flag", "finl_trns_pric", "medins_prod_sel_no"},
    "3502": {"med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name", "manu_lotnum", "expy_end", "rx_flag",
             "inv_chg_type", "pric", "cnt", "inv_chg_time", "fixmedins_bchno"},
    "3501": {"med_list_codg", "fixmedins_hilist_id", "fixmedins_hilist_name", "manu_lotnum", "expy_end", "rx_flag",
             "invdate", "inv_cnt", "fixmedins_bchno"},
}
HEAD = {"infno", "msgid", "fixmedins_code", "inf_time"}
TIME_FIELD = {"3501": "invdate", "3502": "inv_chg_time", "3503": "purc_retn_stoin_time", "3504": "purc_retn_stoin_time",
              "3505": "sel_retn_time", "3506": "sel_retn_time"}


def _bodies(message):
    if "input" in message:
        (key, body), = message["input"].items()
        return ("list" if isinstance(body, list) else "object"), (body if isinstance(body, list) else [body])
    body = {k: v for k, v in message.items() if k not in HEAD}
    return "top", [body]


def _codes(body):
    if "drugtracinfo" in body:
        return [d["drug_trac_codg"] for d in body["drugtracinfo"]]
    return [body["drug_trac_codg"]]


@pytest.fixture(scope="module")
def nhsa(make_city):
    """The shared city's messages in the single-row style (the other styles: test_nhsa_styles.py)."""
    city = make_city("nhsa", nhsa_style="single")
    messages = []
    for path in sorted(city.inputs.glob("nhsa-*.jsonl")):
        with open(path, encoding="utf-8") as fh:
            messages.extend(json.loads(line) for line in fh)
    return city, messages


def test_nhsa_messages_have_the_example_shapes(nhsa):
    city, messages = nhsa
    assert len(messages) == city.truth["counts"]["lines"]
    products = {r.product_code: r for r in city.products.itertuples()}
    sites = set(city.sites.site_id)
    shapes, infnos, changes = Counter(), Counter(), Counter()
    split_lines = multi_sales = 0
    for m in messages:
        infno = m["infno"]
        shape, bodies = _bodies(m)
        shapes[shape] += 1
        infnos[infno] += 1
        assert HEAD <= set(m) and m["fixmedins_code"] in sites
        for body in bodies:
            fields = set(body) - {"drugtracinfo", "drug_trac_codg"}
            assert fields == EXAMPLE_FIELDS[infno], (infno, fields ^ EXAMPLE_FIELDS[infno])
            when = body[TIME_FIELD[infno]]
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", when)
            assert m["msgid"][:12] == m["fixmedins_code"][:12]
            assert m["msgid"][12:26] == re.sub(r"\D", "", when) and re.fullmatch(r"\d{6}", m["msgid"][26:])
            assert m["inf_time"] > when
            codes = _codes(body)
            assert all(re.fullmatch(r"\d{20}", c) for c in codes)
            if shape != "top":
                assert "drugtracinfo" in body
            elif len(codes) == 1:
                assert "drug_trac_codg" in body
            product = products[body["med_list_codg"]]
            assert body["fixmedins_hilist_id"] == body["med_list_codg"][-12:]
            assert body["fixmedins_hilist_name"] == product.name
            if infno == "3502":
                changes[body["inv_chg_type"]] += 1
                assert body["cnt"] == len(codes)
            if infno == "3505":
                assert re.fullmatch(r"\d{18}", body["psn_no"]) and body["psn_name"] == "**"
                assert re.fullmatch(r"D\d{17}", body["prsc_dr_certno"])
                assert body["prsc_dr_name"] == "医师" + body["prsc_dr_certno"][-3:]
                assert re.fullmatch(r"PH\d{8}", body["phar_certno"])
                assert body["setl_id"] == "" or re.fullmatch(r"S\d{12}", body["setl_id"])
                assert body["hi_feesetl_type"] == ("1" if body["setl_id"] else "2")
                if body["trdn_flag"] == "1":
                    split_lines += 1
                    assert len(codes) == 1 and 0 < body["sel_retn_cnt"] < product.pack_units
                    assert body["finl_trns_pric"] == round(product.price / product.pack_units, 4)
                else:
                    assert body["sel_retn_cnt"] == len(codes)
                    assert body["finl_trns_pric"] == product.price
                    multi_sales += len(codes) > 1
            if infno in ("3503", "3504"):
                assert body["purc_retn_cnt"] == len(codes)
    assert set(shapes) == {"object", "list", "top"}
    assert set(infnos) == {"3501", "3502", "3503", "3504", "3505", "3506"}
    assert {"101", "102"} <= set(changes)
    assert split_lines > 10 and multi_sales > 10


def test_nhsa_codes_lead_with_their_product_prefix(nhsa):
    _city, messages = nhsa
    prefixes = defaultdict(Counter)
    for m in messages:
        for body in _bodies(m)[1]:
            for code in _codes(body):
                prefixes[code[:7]][body["med_list_codg"]] += 1
    for prefix, counts in prefixes.items():
        main, n = counts.most_common(1)[0]
        assert n / sum(counts.values()) > 0.95, prefix   # only 串换 lines disagree


def test_recyclers_and_suppliers_in_inbound(nhsa):
    _city, messages = nhsa
    suppliers = Counter(b["spler_name"] for m in messages if m["infno"] == "3503" for b in _bodies(m)[1])
    assert any(s.startswith("个人") for s in suppliers)
    assert any(s.endswith(("公司", "集团", "分销")) for s in suppliers)


def test_masters_match_the_examples(make_city):
    city = make_city("nhsa")
    sites = (city.inputs / "sites.csv").read_text(encoding="utf-8").splitlines()
    products = (city.inputs / "products.csv").read_text(encoding="utf-8").splitlines()
    assert sites[0] == "site_id,name,kind,chain,region"
    assert products[0] == "product_code,name,pack_units,price"
    for row in csv.DictReader(sites):
        assert re.fullmatch(r"[PH]1\d{11}", row["site_id"]) and row["kind"] in ("pharmacy", "hospital", "clinic")
        assert row["site_id"][0] == ("P" if row["kind"] == "pharmacy" else "H")
        assert row["region"].endswith(("区", "市"))
    for row in csv.DictReader(products):
        assert re.fullmatch(r"X[A-Z]\d{4}A\d{13}", row["product_code"])
        assert int(row["pack_units"]) >= 1 and re.fullmatch(r"\d+\.\d+", row["price"])
    assert "阿托伐他汀钙片 20mg*7片,7,38.5" in (city.inputs / "products.csv").read_text(encoding="utf-8")


def test_csv_export_has_chinese_headers_and_declared_encodings(make_city):
    city = make_city("csv")
    encodings = set()
    for path in sorted(city.inputs.glob("export-*.csv")):
        raw = path.read_bytes()
        if raw.startswith(b"\xef\xbb\xbf"):
            text, enc = raw.decode("utf-8-sig"), "utf-8-sig"
        else:
            text, enc = raw.decode("gbk"), "gbk"
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
        encodings.add(enc)
        rows = list(csv.reader(text.splitlines()))
        assert tuple(rows[0]) == CSV_HEADER
        types = {r[1] for r in rows[1:]}
        assert types <= {"采购入库", "采购退货", "销售", "销售退货", "调拨入库", "调拨出库", "盘点", "报损"}
        assert all(re.fullmatch(r"\d{20}", r[0]) for r in rows[1:])
    assert encodings == {"utf-8-sig", "gbk"}


def test_parquet_is_canonical(make_city):
    city = make_city("parquet")
    for path in sorted(city.inputs.glob("events-*.parquet")):
        table = pq.read_table(path)
        assert table.schema.equals(EVENT_SCHEMA)
    events = city.events()
    assert events.event_id.is_unique
    assert set(events.code_kind) == {"cn20"}
    assert (events.trace_code.str[:7] == events.code_product).all()
    sales = events[events.event_type == "dispense"]
    settled = sales[sales.settlement_id.notna()]
    assert (settled.fund_amount > 0).all() and (settled.fund_amount < settled.total_amount).all()
    assert (sales[sales.settlement_id.isna()].fund_amount == 0).all()


def test_epcis_documents_carry_valid_sgtins(make_city):
    city = make_city("epcis")
    steps = Counter()
    canonical = set()
    for path in sorted(city.inputs.glob("epcis-*.jsonld")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert doc["type"] == "EPCISDocument" and doc["schemaVersion"] == "2.0"
        for event in doc["epcisBody"]["eventList"]:
            assert event["type"] == "ObjectEvent" and event["eventTime"].endswith("+08:00")
            assert event["bizLocation"]["id"] == event["readPoint"]["id"]
            steps[event["bizStep"]] += 1
            for epc in event["epcList"]:
                parsed = parse_code(epc)   # raises on a bad GTIN check digit
                assert parsed.kind == "gs1"
                canonical.add(parsed.canonical)
    assert {"receiving", "shipping", "retail_selling", "dispensing", "cycle_counting"} <= set(steps)
    truth_codes = {f["trace_code"] for f in city.truth["expected_findings"]}
    assert truth_codes and truth_codes <= canonical


def test_code_factory_never_repeats_and_gtins_check():
    factory = CodeFactory("8123456", "6912345", "00123", gs1=False, key=12345, run=9990)
    codes = factory.issue(30000)
    assert len(set(codes)) == len(codes) and all(len(c) == 20 and c.startswith("8123456") for c in codes)
    assert [c[-4:] for c in codes[:12]][9:12] == ["9999", "0000", "0001"]
    gs1 = CodeFactory("8123456", "6912345", "00123", gs1=True, key=1, run=0)
    body = gs1.gtin14[:-1]
    assert int(gs1.gtin14[-1]) == gtin_check_digit(body)
    code = gs1.issue(1)[0]
    assert parse_code(gs1.sgtin_uri(code)).canonical == code == parse_code(code).canonical
