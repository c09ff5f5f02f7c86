"""Writers: one day of lines at a time, to NHSA JSON Lines, Chinese CSV, canonical Parquet or EPCIS.

Each writer keeps one file per calendar month open and appends to it, so memory
does not grow with the size of the city.  Identifiers that only exist in the
files (msgid, upload time, record numbers, EPCIS event ids) are drawn here, in
the order the lines arrive (time order), from the writer's own random stream.

``VISIBLE`` says which canonical columns each format can express; the ground
truth is computed from those only (an EPCIS ObjectEvent carries no patient,
product code, settlement or split quantity).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import random
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..schema import EVENT_SCHEMA
from .city import City
from .model import DAY, Line

__all__ = ["make_writer", "FORMATS", "VISIBLE", "CSV_HEADER", "NhsaWriter", "NHSA_INFNO", "NHSA_BODY", "CODES_SLOT",
           "CODES_SLOT_JSON", "encode_json"]

FORMATS = ("nhsa", "csv", "parquet", "epcis")

_ALL = frozenset(EVENT_SCHEMA.names)
@functools.cache
def _hms(compact: bool = False) -> list[str]:
    """``HH:MM:SS`` (or ``HHMMSS``) of every second of a day, by second: built at first use, not at import."""
    table = [f"{h:02d}:{m:02d}:{sec:02d}" for h in range(24) for m in range(60) for sec in range(60)]
    return [x.replace(":", "") for x in table] if compact else table
#: JSON text of an object (ensure_ascii off); the codes of a message go in as text at CODES_SLOT (faster).
encode_json = json.JSONEncoder(ensure_ascii=False).encode
CODES_SLOT = "\x00codes\x00"
CODES_SLOT_JSON = encode_json(CODES_SLOT)
VISIBLE = {
    "nhsa": _ALL - {"fund_amount"},
    "csv": _ALL,
    "parquet": _ALL,
    "epcis": frozenset({"trace_code", "event_type", "event_time", "site_id", "counterparty", "code_product"}),
}

NHSA_INFNO = {"inventory": "3501", "transfer_in": "3502", "transfer_out": "3502", "adjust": "3502", "inbound": "3503",
          "purchase_return": "3504", "dispense": "3505", "refund": "3506"}
NHSA_BODY = {"3501": "invinfo", "3502": "invinfo", "3503": "purcinfo", "3504": "purcinfo", "3505": "selinfo", "3506": "selinfo"}
_CSV_TYPE = {"inbound": "采购入库", "purchase_return": "采购退货", "dispense": "销售", "refund": "销售退货",
             "transfer_in": "调拨入库", "transfer_out": "调拨出库", "inventory": "盘点", "adjust": "报损"}
CSV_HEADER = ("追溯码", "业务类型", "发生时间", "机构编码", "医保编码", "药品名称", "批号", "有效期", "数量", "拆零标志",
              "人员编号", "医师", "药师", "结算ID", "基金支付", "金额", "往来单位")


class _Base:
    ext = ""
    prefix = ""

    def __init__(self, out_dir: Path, city: City, start: date, seed: int):
        self.out_dir = out_dir
        self.city = city
        self.start = start
        self.rng = random.Random(seed * 104729 + 3)
        self.files: list[Path] = []
        self.month: tuple[int, int] | None = None
        self.site_seq = [0] * len(city.sites)
        self.lines = 0
        self._day_str: dict[int, str] = {}

    # -- shared renderers
    def day_str(self, day: int) -> str:
        s = self._day_str.get(day)
        if s is None:
            s = (self.start + timedelta(days=day)).isoformat()
            self._day_str[day] = s
        return s

    def time_str(self, t: int) -> str:
        day, sec = divmod(t, DAY)
        return f"{self.day_str(day)} {_hms()[sec]}"

    def compact(self, t: int) -> str:
        day, sec = divmod(t, DAY)
        return self.day_str(day).replace("-", "") + _hms(True)[sec]

    def date_of(self, day: int) -> str:
        return self.day_str(day) if 0 <= day < 4000 else (self.start + timedelta(days=day)).isoformat()

    def msgid(self, line: Line) -> str:
        self.site_seq[line.site] += 1
        site_id = self.city.sites[line.site].site_id
        return site_id[:12] + self.compact(line.t) + str(self.site_seq[line.site] % 1_000_000).zfill(6)

    def upload_time(self, line: Line) -> str:
        lag_h = self.city.sites[line.site].upload_lag_h
        return self.time_str(line.t + 60 + int(self.rng.expovariate(1.0) * lag_h * 3600))


    def record_no(self, line: Line, letter: str = "B") -> str:
        if line.invoice.startswith("B"):
            return line.invoice
        return letter + str(10**9 + int(self.rng.random() * 9 * 10**9))

    # -- files
    def _roll(self, day: int) -> None:
        d = self.start + timedelta(days=day)
        month = (d.year, d.month)
        if month != self.month:
            self.close_month()
            self.month = month
            path = self.out_dir / f"{self.prefix}-{d.year:04d}-{d.month:02d}.{self.ext}"
            self.files.append(path)
            self.open_month(path)

    def write_day(self, day: int, lines: list[Line]) -> None:
        if not lines:
            return
        self._roll(day)
        self.lines += len(lines)
        self.write_lines(lines)

    def close(self) -> list[Path]:
        self.close_month()
        return self.files

    def open_month(self, path: Path) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def close_month(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def write_lines(self, lines: list[Line]) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class NhsaWriter(_Base):
    """NHSA 进销存 messages, one JSON object per line, in the site's body shape."""

    ext, prefix = "jsonl", "nhsa"

    def open_month(self, path: Path) -> None:
        self.fh = open(path, "w", encoding="utf-8", newline="\n")

    def close_month(self) -> None:
        if self.month is not None:
            self.fh.close()

    def write_lines(self, lines: list[Line]) -> None:
        out = []
        for line in lines:
            text = encode_json(self.message(line))
            codes = ", ".join(['{"drug_trac_codg": "%s"}' % p.code for p in line.packs])
            out.append(text.replace(CODES_SLOT_JSON, "[" + codes + "]", 1))
        self.fh.write("\n".join(out))
        self.fh.write("\n")

    def message(self, line: Line) -> dict:
        infno = NHSA_INFNO[line.etype]
        head = self.head(line, infno)
        body = self.body(line, infno)
        if self.city.sites[line.site].shape == "top":
            head.update(body)
            if len(line.packs) == 1:
                head["drug_trac_codg"] = line.packs[0].code
            else:
                head["drugtracinfo"] = CODES_SLOT   # spliced in as text by write_lines (faster)
            return head
        body["drugtracinfo"] = CODES_SLOT
        head["input"] = {NHSA_BODY[infno]: body if self.city.sites[line.site].shape == "object" else [body]}
        return head

    def head(self, line: Line, infno: str) -> dict:
        """The message head: infno, a new msgid, the site and the upload time (drawn)."""
        return {"infno": infno, "msgid": self.msgid(line), "fixmedins_code": self.city.sites[line.site].site_id,
                "inf_time": self.upload_time(line)}

    def body(self, line: Line, infno: str) -> dict:
        """The body item of ``line`` (a 3501-3506 item or a batch row) without its codes."""
        c = self.city
        product = c.products[line.prod]
        body = {"med_list_codg": product.code, "fixmedins_hilist_id": product.hilist_id,
                "fixmedins_hilist_name": product.name, "manu_lotnum": line.batch.lot,
                "expy_end": self.date_of(line.batch.expiry), "rx_flag": "1"}
        when = self.time_str(line.t)
        if infno == "3505":
            body.update({
                "psn_no": c.psn_no[line.patient], "psn_name": "**",
                "prsc_dr_certno": c.prescriber_ids[line.prescriber], "prsc_dr_name": c.prescriber_names[line.prescriber],
                "phar_certno": line.pharmacist, "setl_id": line.setl or "",
                "mdtrt_setl_type": "1" if line.setl else "2", "hi_feesetl_type": "1" if line.setl else "2",
                "finl_trns_pric": line.price, "sel_retn_cnt": int(line.qty), "sel_retn_time": when,
                "trdn_flag": "1" if line.split else "0", "rxno": line.rxno, "fixmedins_bchno": self.record_no(line),
            })
        elif infno == "3506":
            body.update({
                "psn_no": c.psn_no[line.patient], "setl_id": line.setl or "", "sel_retn_cnt": int(line.qty),
                "sel_retn_time": when, "trdn_flag": "1" if line.split else "0", "finl_trns_pric": line.price,
                "medins_prod_sel_no": self.record_no(line, "M"),
            })
        elif infno in ("3503", "3504"):
            body.update({"spler_name": line.counterparty})
            if infno == "3503":
                body["purc_invo_no"] = line.invoice
            body.update({
                "purc_retn_cnt": int(line.qty), "purc_retn_opter_name": "采购员", "prod_geay_flag": "0",
                "purc_retn_stoin_time": when, "fixmedins_bchno": self.record_no(line), "finl_trns_pric": line.price,
            })
        elif infno == "3502":
            body.update({"inv_chg_type": line.inv_chg_type, "pric": line.price, "cnt": int(line.qty),
                         "inv_chg_time": when, "fixmedins_bchno": self.record_no(line)})
        else:  # 3501
            body.update({"invdate": when, "inv_cnt": int(line.qty), "fixmedins_bchno": self.record_no(line)})
        return body


class CsvWriter(_Base):
    """A pharmacy-system export with Chinese headers, one row per code (UTF-8 with BOM or GBK)."""

    ext, prefix = "csv", "export"

    def open_month(self, path: Path) -> None:
        encoding = "utf-8-sig" if self.rng.random() < 0.5 else "gbk"
        self.fh = open(path, "w", encoding=encoding, newline="")
        self.csv = csv.writer(self.fh, lineterminator="\r\n")
        self.csv.writerow(CSV_HEADER)

    def close_month(self) -> None:
        if self.month is not None:
            self.fh.close()

    def write_lines(self, lines: list[Line]) -> None:
        c = self.city
        rows = []
        for line in lines:
            site = c.sites[line.site]
            product = c.products[line.prod]
            k = len(line.packs)
            sale = line.etype in ("dispense", "refund")
            qty = str(int(line.qty)) if line.split else "1"
            total = f"{line.price * line.qty / k:.2f}"
            fund = f"{line.fund / k:.2f}" if sale and line.setl and line.fund is not None else ""
            counterparty = line.counterparty
            when = self.time_str(line.t)
            expiry = self.date_of(line.batch.expiry)
            for pack in line.packs:
                rows.append((
                    pack.code, _CSV_TYPE[line.etype], when, site.site_id, product.code, product.name,
                    line.batch.lot, expiry, qty, "1" if line.split else "0",
                    c.psn_no[line.patient] if sale else "",
                    c.prescriber_ids[line.prescriber] if line.etype == "dispense" else "",
                    line.pharmacist if line.etype == "dispense" else "",
                    (line.setl or "") if sale else "", fund, total, counterparty,
                ))
        self.csv.writerows(rows)


class ParquetWriter(_Base):
    """Canonical events (rxring.schema.EVENT_SCHEMA), one row group per day."""

    ext, prefix = "parquet", "events"

    def open_month(self, path: Path) -> None:
        self.pq = pq.ParquetWriter(str(path), EVENT_SCHEMA, compression="zstd")

    def close_month(self) -> None:
        if self.month is not None:
            self.pq.close()

    def write_lines(self, lines: list[Line]) -> None:
        c = self.city
        cols: dict[str, list] = {name: [] for name in EVENT_SCHEMA.names}
        epoch = self.start
        for line in lines:
            site = c.sites[line.site]
            product = c.products[line.prod]
            k = len(line.packs)
            sale = line.etype in ("dispense", "refund")
            msgid = self.msgid(line)
            when = _dt(epoch, line.t)
            expiry = epoch + timedelta(days=line.batch.expiry)
            record = self.record_no(line, "M" if line.etype == "refund" else "B")
            total = line.price * line.qty / k
            fund = (line.fund / k if line.setl and line.fund is not None else 0.0) if sale else None
            for i, pack in enumerate(line.packs):
                codes = c.products[pack.prod].codes
                cols["event_id"].append(f"{msgid}:0:{i}")
                cols["trace_code"].append(pack.code)
                cols["event_type"].append(line.etype)
                cols["event_time"].append(when)
                cols["site_id"].append(site.site_id)
                cols["product_code"].append(product.code)
                cols["product_name"].append(product.name)
                cols["batch"].append(line.batch.lot)
                cols["expiry"].append(expiry)
                cols["quantity"].append(float(line.qty) if line.split else 1.0)
                cols["split_sale"].append(bool(line.split))
                cols["patient_id"].append(c.psn_no[line.patient] if sale else None)
                cols["prescriber_id"].append(c.prescriber_ids[line.prescriber] if line.etype == "dispense" else None)
                cols["pharmacist_id"].append(line.pharmacist if line.etype == "dispense" else None)
                cols["settlement_id"].append(line.setl if sale else None)
                cols["fund_amount"].append(fund)
                cols["total_amount"].append(total)
                cols["counterparty"].append(line.counterparty or None)
                cols["record_no"].append(record)
                cols["code_kind"].append("gs1" if codes.gs1 else "cn20")
                cols["code_product"].append(codes.product_part)
                cols["code_serial"].append(pack.code[18:] if codes.gs1 else pack.code[7:])
                cols["code_expiry"].append(None)
                cols["code_lot"].append(None)
                cols["source_file"].append(None)
                cols["source_line"].append(None)
        self.pq.write_table(pa.table(cols, schema=EVENT_SCHEMA))


_BIZSTEP = {"inbound": ("receiving", "in_progress"), "transfer_in": ("receiving", "in_progress"),
            "purchase_return": ("shipping", "returned"), "transfer_out": ("shipping", "in_transit"),
            "refund": ("receiving", "returned"), "inventory": ("cycle_counting", "active"),
            "adjust": ("decommissioning", "destroyed")}


class EpcisWriter(_Base):
    """GS1 EPCIS 2.0 JSON-LD documents of ObjectEvents with SGTIN epcLists, one per month."""

    ext, prefix = "epcis", "epcis"

    def open_month(self, path: Path) -> None:
        self.path = path.with_suffix(".jsonld")
        self.files[-1] = self.path
        self.fh = open(self.path, "w", encoding="utf-8", newline="\n")
        y, m = self.month
        head = {
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": f"{y:04d}-{m:02d}-01T00:00:00.000+08:00",
        }
        text = json.dumps(head, ensure_ascii=False, indent=1)
        self.fh.write(text[:-2] + ',\n "epcisBody": {\n  "eventList": [\n')
        self.first = True

    def close_month(self) -> None:
        if self.month is not None:
            self.fh.write("\n  ]\n }\n}\n")
            self.fh.close()

    def write_lines(self, lines: list[Line]) -> None:
        c = self.city
        buf = io.StringIO()
        for line in lines:
            site = c.sites[line.site]
            codes = c.products[line.packs[0].prod].codes
            if line.etype == "dispense":
                step, disp = ("retail_selling", "retail_sold") if site.is_pharmacy else ("dispensing", "dispensed")
            else:
                step, disp = _BIZSTEP[line.etype]
            day, sec = divmod(line.t, DAY)
            event = {
                "type": "ObjectEvent",
                "eventTime": f"{self.day_str(day)}T{_hms()[sec]}.000+08:00",
                "eventTimeZoneOffset": "+08:00",
                "eventID": f"urn:uuid:{self._uuid()}",
                "epcList": [codes.sgtin_uri(p.code) for p in line.packs],
                "action": "OBSERVE",
                "bizStep": step,
                "disposition": disp,
                "readPoint": {"id": site.site_id},
                "bizLocation": {"id": site.site_id},
            }
            if line.etype in ("inbound", "transfer_in") and line.counterparty:
                event["sourceList"] = [{"type": "owning_party", "source": line.counterparty}]
            elif line.etype in ("purchase_return", "transfer_out") and line.counterparty:
                event["destinationList"] = [{"type": "owning_party", "destination": line.counterparty}]
            buf.write(("" if self.first else ",\n") + "   " + json.dumps(event, ensure_ascii=False))
            self.first = False
        self.fh.write(buf.getvalue())

    def _uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _dt(start: date, t: int):
    from datetime import datetime

    day, sec = divmod(t, DAY)
    return datetime(start.year, start.month, start.day) + timedelta(days=day, seconds=sec)


def make_writer(fmt: str, out_dir: Path, city: City, start: date, seed: int, nhsa_style: str = "single") -> _Base:
    """The writer for ``fmt`` (one of :data:`FORMATS`); for nhsa, in ``nhsa_style``
    (:data:`rxring.synth.nhsa_styles.NHSA_STYLES`; ``single`` is :class:`NhsaWriter`)."""
    if fmt == "nhsa" and nhsa_style != "single":
        from .nhsa_styles import NhsaStyleWriter

        return NhsaStyleWriter(out_dir, city, start, seed, nhsa_style)
    cls = {"nhsa": NhsaWriter, "csv": CsvWriter, "parquet": ParquetWriter, "epcis": EpcisWriter}[fmt]
    return cls(out_dir, city, start, seed)
