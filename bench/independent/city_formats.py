"""Render the independent city's lines into the files sites really send.

* ``nhsa_YYYYMM.jsonl``: the regional platform's monthly NHSA 进销存 export, selected by
  upload time (``inf_time``) with three days of overlap at both ends, so messages near a
  month boundary sit in two files (same ``msgid``).  Each site's software has its own body
  shape: ``input.<body>`` as an object, as a list (a settlement's lines in one message),
  or fields at top level.
* ``H1_2025Q3.json`` / ``H1_2025Q4.json``: the big hospital's quarterly JSON arrays.
* ``康济大药房_销售明细_2025H2.csv``: the chain's sales export, GBK, Chinese headers,
  Excel-style times (``2025/7/3 14:22:10``), one row per code, some codes with a trailing
  space; two junk rows that must go to quarantine.
* ``sites.csv`` and ``products.csv`` master tables.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

__all__ = ["render"]

INFNO = {"inventory": "3501", "transfer_out": "3502", "transfer_in": "3502", "inbound": "3503",
         "purchase_return": "3504", "dispense": "3505", "refund": "3506"}
BODY = {"3501": "invinfo", "3502": "invinfo", "3503": "purcinfo", "3504": "purcinfo", "3505": "selinfo",
        "3506": "selinfo"}
CSV_HEADER = ["机构编码", "机构名称", "销售时间", "药品追溯码", "医保编码", "药品名称", "批号", "有效期至", "数量",
              "拆零标志", "单价", "金额", "基金支付", "人员编号", "医师", "结算ID"]


def _fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


def _items(line) -> list:
    """One NHSA item per (batch, expiry) among the line's packs."""
    groups = defaultdict(list)
    for pack in line.packs:
        groups[(pack.batch, pack.expiry)].append(pack)
    product = line.reported_product or line.product
    items = []
    for (batch, expiry), packs in groups.items():
        codes = [p.raw(line.site.gs1_habit) for p in packs]
        if "pad_codes" in line.site.habits:
            codes = [" " + c + " " for c in codes]
        if "double_beep" in line.site.habits and line.kind == "dispense" and not line.split and _beep(line):
            codes.append(codes[-1])  # the scanner read the same pack twice into this line
            line.beeped = packs[-1]
        item = {"med_list_codg": product.code, "fixmedins_hilist_id": product.code[-12:],
                "fixmedins_hilist_name": product.name, "manu_lotnum": batch, "expy_end": expiry.isoformat(),
                "rx_flag": "1"}
        n = len(packs)
        if line.kind == "dispense":
            item.update({
                "psn_no": line.patient, "psn_name": "**",
                "prsc_dr_certno": "" if (line.dr_name_only or line.doctor is None) else line.doctor.certno,
                "prsc_dr_name": line.doctor.name if line.doctor else "",
                "phar_certno": line.pharmacist, "setl_id": line.setl_id,
                "mdtrt_setl_type": "1" if line.setl_id else "2", "hi_feesetl_type": "1" if line.setl_id else "2",
                "finl_trns_pric": line.price, "sel_retn_cnt": line.qty if line.split else len(codes),
                "sel_retn_time": _fmt(line.time), "trdn_flag": "1" if line.split else "0",
                "rxno": "RX" + line.record_no[-10:], "fixmedins_bchno": line.record_no})
        elif line.kind == "refund":
            item.update({"psn_no": "" if "refund_no_psn" in line.site.habits else line.patient,
                         "setl_id": line.setl_id,
                         "sel_retn_cnt": line.qty if line.split else n, "sel_retn_time": _fmt(line.time),
                         "trdn_flag": "1" if line.split else "0", "finl_trns_pric": line.price,
                         "medins_prod_sel_no": line.record_no})
        elif line.kind == "inbound":
            item.update({"spler_name": line.supplier, "purc_invo_no": line.invoice, "purc_retn_cnt": n,
                         "purc_retn_opter_name": "采购员", "prod_geay_flag": "0",
                         "purc_retn_stoin_time": _fmt(line.time), "fixmedins_bchno": line.record_no,
                         "finl_trns_pric": line.price})
        elif line.kind == "purchase_return":
            item.update({"purc_retn_cnt": n, "purc_retn_stoin_time": _fmt(line.time),
                         "fixmedins_bchno": line.record_no, "finl_trns_pric": round(line.product.price * 0.72, 2)})
        elif line.kind in ("transfer_out", "transfer_in"):
            item.update({"inv_chg_type": line.inv_chg_type, "pric": line.price, "cnt": n,
                         "inv_chg_time": _fmt(line.time), "fixmedins_bchno": line.record_no})
        elif line.kind == "inventory":
            item.update({"invdate": line.time.strftime("%Y-%m-%d"), "inv_cnt": n,
                         "fixmedins_bchno": "I" + line.record_no[-10:] if line.record_no else ""})
        if line.product.kind == "gs1" and line.site.output == "h1":
            item.pop("expy_end")  # this vendor leaves expiry to the GS1 code (AI 17)
        if "str_numbers" in line.site.habits:
            item = {k: (f"{v:.2f}" if isinstance(v, float) else str(v) if isinstance(v, int) else v)
                    for k, v in item.items()}
        if "iso_tz" in line.site.habits:
            item = {k: (v.replace(" ", "T") + "+08:00" if k.endswith("_time") else v) for k, v in item.items()}
        items.append((item, codes))
    return items


def _chain_csv_kinds(city) -> tuple:
    return ("dispense",) if "negative_refund_rows" in city.disabled else ("dispense", "refund")


def _epcis_line(line) -> bool:
    return line.kind == "inbound" and line.product.kind == "gs1" and line.site.output == "chain" \
        and line.site.name.endswith("(总店)")


def _beep(line) -> bool:
    """Deterministic 2% of lines (by record number) get a double scan."""
    return int(line.record_no[-4:] or 0) % 50 == 7


def _with_codes(item: dict, codes: list, single_field: bool) -> dict:
    item = dict(item)
    if single_field and len(codes) == 1:
        item["drug_trac_codg"] = codes[0]
    else:
        item["drugtracinfo"] = [{"drug_trac_codg": c} for c in codes]
    return item


def _messages(city) -> list:
    """(site, upload time, message, code rows) for every NHSA message, in time order."""
    rng = city.rng
    seq = defaultdict(int)
    out = []
    pending_groups = defaultdict(list)
    for line in city.lines:
        site = line.site
        if site.output == "chain" and line.kind in _chain_csv_kinds(city) or _epcis_line(line):
            continue
        if site.shape == "list" and line.kind == "dispense" and line.group:
            pending_groups[(site.site_id, line.group)].append(line)
            continue
        pending_groups[(site.site_id, id(line))].append(line)
    for (_, _), lines in sorted(pending_groups.items(), key=lambda kv: kv[1][0].time):
        first = lines[0]
        site = first.site
        infno = INFNO[first.kind]
        items = [pair for line in lines for pair in _items(line)]
        if site.output == "h1":
            upload = datetime.combine(first.time.date(), datetime.min.time()) + timedelta(hours=23, minutes=rng.randint(0, 50))
        else:
            upload = first.time + timedelta(minutes=rng.randint(30, 60 * 72))
        chunks = [items] if site.shape == "list" else [[pair] for pair in items]
        for chunk in chunks:
            seq[site.site_id] += 1
            msgid = f"{site.site_id[:12]}{first.time:%Y%m%d%H%M%S}{seq[site.site_id]:06d}"
            msg = {"infno": infno, "msgid": msgid, "fixmedins_code": site.site_id, "inf_time": _fmt(upload)}
            n_codes = sum(len(c) for _, c in chunk)
            if site.shape == "top":
                item, codes = chunk[0]
                msg.update(_with_codes(item, codes, True))
            elif site.shape == "object":
                item, codes = chunk[0]
                msg["input"] = {BODY[infno]: _with_codes(item, codes, False)}
            else:
                msg["input"] = {BODY[infno]: [_with_codes(item, codes, False) for item, codes in chunk]}
            out.append((site, upload, msg, n_codes, first))
            for line in lines:
                if getattr(line, "beeped", None) is not None:
                    city.tag(line.beeped, "double_beep_in_line")
            if "retransmit" in site.habits and rng.random() < 0.006:
                # the interface timed out and the software sent the same message again, new msgid
                seq[site.site_id] += 1
                again = dict(msg, msgid=f"{site.site_id[:12]}{first.time:%Y%m%d%H%M%S}{seq[site.site_id]:06d}",
                             inf_time=_fmt(upload + timedelta(hours=rng.randint(1, 30))))
                out.append((site, upload + timedelta(hours=1), again, n_codes, first))
                for pack in first.packs:
                    city.tag(pack, "retransmit")
    return out


def _month_windows():
    for year, month in [(2025, m) for m in range(7, 13)] + [(2026, 1)]:
        start = datetime(year, month, 1)
        nxt = datetime(year + (month == 12), month % 12 + 1, 1)
        yield f"{year}{month:02d}", start - timedelta(days=3), nxt + timedelta(days=3)


def render(city, out_dir: Path) -> dict:
    """Write the city's input files; return row counts (rows = codes, as rxring counts them)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stats = {"files": {}, "rows": 0, "junk_rows": 0, "overlap_messages": 0}
    messages = _messages(city)

    # regional monthly exports (overlapping)
    seen = defaultdict(int)
    for name, lo, hi in _month_windows():
        rows = 0
        path = out_dir / f"nhsa_{name}.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for site, upload, msg, n_codes, first in messages:
                if site.output == "h1" or not (lo <= upload < hi):
                    continue
                fh.write(json.dumps(msg, ensure_ascii=False) + "\n")
                rows += n_codes
                seen[msg["msgid"]] += 1
                if seen[msg["msgid"]] == 2:
                    stats["overlap_messages"] += 1
                    for pack in first.packs:
                        city.tag(pack, "overlap_file")
        stats["files"][path.name] = rows
        stats["rows"] += rows

    # the big hospital's quarterly JSON arrays (by event time)
    for name, lo, hi in (("2025Q3", datetime(2025, 7, 1), datetime(2025, 10, 1)),
                         ("2025Q4", datetime(2025, 10, 1), datetime(2026, 1, 1))):
        chosen = [(msg, n) for site, _, msg, n, first in messages if site.output == "h1" and lo <= first.time < hi]
        path = out_dir / f"H1_{name}.json"
        path.write_text(json.dumps([m for m, _ in chosen], ensure_ascii=False, indent=1), encoding="utf-8")
        stats["files"][path.name] = sum(n for _, n in chosen)
        stats["rows"] += stats["files"][path.name]

    # the chain's GBK sales exports: 7-9月 and 9-12月, overlapping in the second half of September
    exports = (("康济大药房_销售明细_2025Q3.csv", datetime(2025, 7, 1), datetime(2025, 10, 1), True),
               ("康济大药房_销售明细_20250915-20251231.csv", datetime(2025, 9, 15), datetime(2026, 1, 1), False))
    for fname, lo, hi, junk in exports:
        rows, n_junk = _chain_csv(city, out_dir / fname, lo, hi, junk)
        stats["files"][fname] = rows
        stats["rows"] += rows
        stats["junk_rows"] += n_junk

    # the chain's warehouse scanner reports imported (GS1) deliveries to the central store as EPCIS 2.0
    events = []
    for line in city.lines:
        if not _epcis_line(line):
            continue
        events.append({"type": "ObjectEvent", "eventTime": line.time.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
                       "eventTimeZoneOffset": "+08:00", "action": "OBSERVE", "bizStep": "receiving",
                       "disposition": "in_progress", "epcList": [p.raw("sgtin") for p in line.packs],
                       "readPoint": {"id": line.site.site_id}, "bizLocation": {"id": line.site.site_id}})
    doc = {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"], "type": "EPCISDocument",
           "schemaVersion": "2.0", "creationDate": "2026-01-02T09:00:00+08:00",
           "epcisBody": {"eventList": events}}
    path = out_dir / "康济大药房_进口药品收货_epcis.jsonld"
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    stats["files"][path.name] = sum(len(e["epcList"]) for e in events)
    stats["rows"] += stats["files"][path.name]

    # master tables
    with (out_dir / "sites.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["site_id", "name", "kind", "chain", "region"])
        for site in city.sites.values():
            w.writerow([site.site_id, site.name, site.kind, site.chain, site.region])
    with (out_dir / "products.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["product_code", "name", "pack_units", "price"])
        for p in city.products:
            w.writerow([p.code, p.name, p.pack_units, p.price])
    return stats


def _chain_csv(city, path: Path, lo: datetime, hi: datetime, junk: bool) -> tuple[int, int]:
    """One GBK sales export of the chain; returns (rows written, rows that must be quarantined)."""
    rng = city.rng
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    rows = n_junk = 0
    total = 0.0
    for line in city.lines:
        if line.site.output != "chain" or line.kind not in _chain_csv_kinds(city) or not lo <= line.time < hi:
            continue
        product = line.reported_product or line.product
        for pack in line.packs:
            code = pack.raw("bracket")
            if rng.random() < 0.08:
                code += " "
            t = line.time
            qty = line.qty if line.split else 1
            if line.kind == "refund":
                qty = -qty  # the ERP lists a return as a sale row with a negative quantity
            amount = round(line.price * qty, 2)
            total += amount
            writer.writerow([line.site.site_id, line.site.name, f"{t.year}/{t.month}/{t.day} {t:%H:%M:%S}", code,
                             product.code, product.name, pack.batch, pack.expiry.strftime("%Y%m%d"), qty,
                             1 if line.split else 0, line.price, amount,
                             round(amount * 0.7, 2) if line.setl_id else 0, line.patient,
                             line.doctor.name if line.doctor else "", line.setl_id])
            rows += 1
            city.tag(pack, "chain_csv")
            if datetime(2025, 9, 15) <= t < datetime(2025, 10, 1):
                city.tag(pack, "overlap_file")
    if junk:
        c1 = city.sites["C1"]
        gtin = next(p.gtin for p in city.products if p.gtin)
        bad_gtin = gtin[:-1] + str((int(gtin[-1]) + 1) % 10)
        for code in ("8" * 19, f"(01){bad_gtin}(21)BADCHECK01"):  # one digit short; GS1 check digit wrong
            writer.writerow([c1.site_id, c1.name, "2025/8/8 10:00:00", code, "XJ6238A2042574571355",
                             "阿托伐他汀钙片 20mg*7片", "L000000", "20270101", 1, 0, 38.5, 38.5, 26.95,
                             city.patients[0], "王伟", ""])
            rows += 1
            n_junk += 1
    # the ERP's totals line at the bottom: not a data row, it must go to quarantine
    writer.writerow(["合计", "", "", "", "", "", "", "", rows, "", "", round(total, 2), "", "", "", ""])
    path.write_bytes(buf.getvalue().encode("gbk"))
    return rows + 1, n_junk + 1
