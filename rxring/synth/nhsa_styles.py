"""NHSA output in the shapes real exports mix: single-row and batch 进销存, the settlement channel.

``rxring synth --format nhsa --nhsa-style STYLE`` (``generate(..., nhsa_style=STYLE)``):

``single``
    One 3501-3506 message per line (:class:`~rxring.synth.writers.NhsaWriter`, the
    generator's shape before the styles existed, byte for byte).
``batch``
    3501A-3506A messages: the lines of one site and one interface of a day grouped
    into uploads of 1-12 rows under ``input.invinfoDetail`` / ``purcinfoDetail`` /
    ``selinfoDetail``, each row with its own ``drugtracinfo``; a one-row upload of
    some vendors puts the ``drugtracinfo`` beside the row list instead.
``settlement``
    The insured sales (lines with a settlement id) through settlement channel A: the
    fee details (2204 outpatient, 2301 inpatient at some hospitals) uploaded before,
    then the settlement (2207 / 2304) naming each code's fee line by ``feedetl_sn``
    in ``drug_trac_info``.  A settlement whose lines share one time is logged with its
    response (``output.setlinfo``: setl_id, setl_time, fund paid; or a
    ``{"request", "response"}`` envelope) at sites that log responses; otherwise as
    the bare request carrying ``setl_id`` (its codes then take each fee line's
    ``fee_ocur_time``, which is the sale's time).  Inpatient fee details of a
    logged-with-response settlement are uploaded the evening before, so on the first
    day of a month they sit in the previous month's file.  Self-pay sales, refunds and
    every stock scan stay in 3501-3506 single-row messages, and so does an insured
    sale of a pack no other scan gives an expiry date for (a settlement carries none,
    and EXPIRED must stay decidable).
``mixed`` (the default)
    Per site one of the above (:data:`SITE_STYLE_SHARES`; a settlement site reports
    the rest single-row or batch), plus, on top of the same events:

    * both channels: :data:`BOTH_CHANNELS` of the channel-A settlements also come as
      3505 lines, mostly with the same setl_id, some without one, written a few
      minutes after the settlement for the same psn_no (whole packs only);
    * retransmissions: :data:`RETRANSMIT` of the sale messages (3505/3506, their
      batch twins, 2207/2304) are sent again under a new msgid with the same record
      numbers and setl_id; a single-row whole-pack sale's copy may carry its upload
      time (at most 6 hours later) as the sale time;
    * cancellations: :data:`RESETTLE` of the channel-A settlements were first settled
      under another setl_id minutes earlier and that settlement cancelled (2208 / 2305);
      a reader that ignores cancellations sees one pack sold twice (DUP_DISPENSE);
    * reversals: :data:`REVERSAL` of the single-row 3505 messages and channel-A
      settlements timed out, were reversed by a 2601 naming their msgid and re-sent
      under a new msgid.

Every style writes the same sales: by the project's definition of "the same sale"
(two scans of a code at a site with the same settlement id; else the same record
number as an earlier scan; else within ``double_scan_minutes`` for the same or an
unknown patient) and with cancellations and reversals applied, each style gives the
same findings and rings, so the ground truth does not depend on the style.
"""

from __future__ import annotations

import random
from pathlib import Path

from .model import DAY, Line
from .writers import CODES_SLOT_JSON, NHSA_BODY, NHSA_INFNO, NhsaWriter, encode_json

__all__ = ["NHSA_STYLES", "NhsaStyleWriter", "SITE_STYLE_SHARES", "BOTH_CHANNELS", "RETRANSMIT", "RESETTLE",
           "REVERSAL"]

NHSA_STYLES = ("single", "batch", "settlement", "mixed")

#: mixed: the share of sites of each kind reporting in each style (single, batch, settlement).
SITE_STYLE_SHARES = {"hospital": (0.2, 0.25, 0.55), "clinic": (0.3, 0.3, 0.4), "pharmacy": (0.45, 0.4, 0.15)}
#: mixed: share of channel-A settlements also reported as 3505 lines ...
BOTH_CHANNELS = 0.15
#: ... of which this share carries no setl_id (matched by time and patient).
BOTH_WITHOUT_SETL = 0.25
#: mixed: share of sale messages retransmitted under a new msgid.
RETRANSMIT = 0.03
#: mixed: share of channel-A settlements preceded by a cancelled settlement of the same packs.
RESETTLE = 0.02
#: mixed: share of single-row 3505 messages and settlements reversed (2601) and re-sent.
REVERSAL = 0.01

_DETAIL = {"invinfo": "invinfoDetail", "purcinfo": "purcinfoDetail", "selinfo": "selinfoDetail"}
_SALE_INFNOS = ("3505", "3506")
_STOCK_TYPES = frozenset(("inbound", "transfer_in", "transfer_out", "purchase_return", "inventory", "adjust"))
_MAX_UPLOAD_SHIFT = 6 * 3600


def _copy_line(line: Line, **changes) -> Line:
    new = Line.__new__(Line)
    for name in Line.__slots__:
        setattr(new, name, getattr(line, name))
    for name, value in changes.items():
        setattr(new, name, value)
    return new


class NhsaStyleWriter(NhsaWriter):
    """NHSA messages in the ``batch``, ``settlement`` or ``mixed`` style (see the module docstring)."""

    def __init__(self, out_dir: Path, city, start, seed: int, style: str = "mixed"):
        super().__init__(out_dir, city, start, seed)
        if style not in NHSA_STYLES or style == "single":
            raise ValueError(f"NhsaStyleWriter style must be batch, settlement or mixed, not {style!r}")
        self.style = style
        self.mixed = style == "mixed"
        pick = random.Random(seed * 7919 + 17)   # site habits: independent of the writer's stream
        self.site_style: list[str] = []
        self.rest_style: list[str] = []     # how a settlement site reports everything else
        self.inpatient: list[bool] = []     # settles through 2301/2304 (a hospital's wards)
        self.log: list[str] = []            # settlement log shape: pair | envelope | bare
        self.sibling: list[bool] = []       # its batch software puts drugtracinfo beside a one-row list
        for s in city.sites:
            r = pick.random()   # drawn in every style: a site keeps its other habits whatever the style
            if style == "mixed":
                shares = SITE_STYLE_SHARES.get(s.kind, SITE_STYLE_SHARES["pharmacy"])
                acc, chosen = 0.0, "settlement"
                for name, share in zip(("single", "batch", "settlement"), shares):
                    acc += share
                    if r < acc:
                        chosen = name
                        break
            else:
                chosen = style
            self.site_style.append(chosen)
            rest = pick.random()
            self.rest_style.append("batch" if (style == "mixed" and rest < 0.5) else "single")
            self.inpatient.append(s.kind == "hospital" and pick.random() < 0.35)
            self.log.append(pick.choices(("pair", "envelope", "bare"), (0.4, 0.2, 0.4))[0])
            self.sibling.append(pick.random() < 0.3)
        self.mix = random.Random(seed * 15485863 + 5)
        self.fee_seq = 0
        self.mdtrt_seq = 0
        self.extra_setl = 0
        self.batches: dict[tuple[int, str], list[Line]] = {}
        self.batch_size: dict[tuple[int, str], int] = {}
        self.extra_counts: dict[str, int] = {}

    # ------------------------------------------------------------------ files
    def write_day(self, day: int, lines: list[Line]) -> None:
        if not lines:
            return
        out: list[str] = []
        early: list[str] = []
        self.render_day(lines, out, early)
        if early:
            if self.month is None:
                self._roll(day)
            self.fh.write("\n".join(early) + "\n")   # the evening before: maybe last month's file
        self._roll(day)
        self.lines += len(lines)
        if out:
            self.fh.write("\n".join(out) + "\n")

    def count(self, what: str, n: int = 1) -> None:
        self.extra_counts[what] = self.extra_counts.get(what, 0) + n

    # ------------------------------------------------------------------ a day
    def render_day(self, lines: list[Line], out: list[str], early: list[str]) -> None:
        groups: dict[tuple[int, str], list[Line]] = {}
        for line in lines:
            if line.etype == "dispense" and line.setl and self.site_style[line.site] == "settlement":
                groups.setdefault((line.site, line.setl), []).append(line)
        channel_a = {key: g for key, g in groups.items() if all(self._expiry_known(ln) for ln in g)}
        done: set[tuple[int, str]] = set()
        for line in lines:
            key = (line.site, line.setl)
            if line.etype == "dispense" and line.setl and key in channel_a:
                if key not in done:
                    done.add(key)
                    self.settlement(channel_a[key], out, early)
                continue
            self.scan(line, out)
        for key in sorted(self.batches):
            self.flush_batch(key, out)

    @staticmethod
    def _expiry_known(line: Line) -> bool:
        """Does another scan of each pack (a 进销存 stock scan, which carries expy_end) exist?"""
        return all(any(e[1] in _STOCK_TYPES for e in pack.hist) for pack in line.packs)

    def scan(self, line: Line, out: list[str], shape: str | None = None) -> None:
        """A line through 进销存: single-row or batch, by the site's habit (or ``shape``)."""
        site_style = self.site_style[line.site]
        shape = shape or (self.rest_style[line.site] if site_style == "settlement" else site_style)
        if shape == "batch":
            infno = NHSA_INFNO[line.etype]
            key = (line.site, infno)
            rows = self.batches.setdefault(key, [])
            rows.append(line)
            if key not in self.batch_size:
                self.batch_size[key] = 1 + int(self.mix.random() * 12)
            if len(rows) >= self.batch_size[key]:
                self.flush_batch(key, out)
            return
        self.single(line, out)

    def _text(self, msg: dict, line: Line) -> str:
        text = encode_json(msg)
        if CODES_SLOT_JSON in text:
            codes = ", ".join(['{"drug_trac_codg": "%s"}' % p.code for p in line.packs])
            text = text.replace(CODES_SLOT_JSON, "[" + codes + "]", 1)
        return text

    def _body_of(self, msg: dict) -> dict:
        payload = msg.get("input")
        if payload is None:
            return msg
        body = next(iter(payload.values()))
        return body[0] if isinstance(body, list) else body

    def single(self, line: Line, out: list[str]) -> None:
        msg = self.message(line)
        infno = msg["infno"]
        mixed = self.mixed and infno in _SALE_INFNOS
        if mixed and infno == "3505" and self.mix.random() < REVERSAL:
            self.reversal(msg, lambda m: self._text(m, line), line, out)
            self.count("reversed_3505")
            return
        out.append(self._text(msg, line))
        if mixed and self.mix.random() < RETRANSMIT:
            again = self._resent(msg, line)
            if not line.split and self.mix.random() < 0.5:   # rebuilt with the upload time as its time
                body = self._body_of(again)
                shift = min(_MAX_UPLOAD_SHIFT, 600 + int(self.mix.expovariate(1.0) * 3 * 3600))
                body = dict(body)
                body["sel_retn_time"] = self.time_str(line.t + shift)
                again = self._with_body(again, body)
                self.count("retransmitted_upload_time")
            out.append(self._text(again, line))
            self.count("retransmitted_" + infno)

    def _with_body(self, msg: dict, body: dict) -> dict:
        msg = dict(msg)
        payload = msg.get("input")
        if payload is None:
            msg.update(body)
            return msg
        (key, value), = payload.items()
        msg["input"] = {key: [body] if isinstance(value, list) else body}
        return msg

    def _resent(self, msg: dict, line: Line, later: int = 1) -> dict:
        """The same message rebuilt under a new msgid (uploaded again later)."""
        again = dict(msg)
        fake = _copy_line(line, t=line.t + later)
        again["msgid"] = self.msgid(fake)
        again["inf_time"] = self.upload_time(fake)
        return again

    def reversal(self, msg: dict, render, line: Line, out: list[str], infno: str | None = None) -> None:
        """``msg`` timed out: sent, reversed by a 2601 naming its msgid, sent again under a new msgid."""
        out.append(render(msg))
        site_id = self.city.sites[line.site].site_id
        undo_line = _copy_line(line, t=line.t + 120)
        undo = {"infno": "2601", "msgid": self.msgid(undo_line), "fixmedins_code": site_id,
                "inf_time": self.time_str(line.t + 120 + int(self.mix.random() * 600)),
                "input": {"data": {"psn_no": self.city.psn_no[line.patient], "omsgid": msg["msgid"],
                                   "oinfno": infno or msg["infno"], "fixmedins_code": site_id}}}
        out.append(encode_json(undo))
        out.append(render(self._resent(msg, line, later=240)))

    # ------------------------------------------------------------------ batch
    def flush_batch(self, key: tuple[int, str], out: list[str]) -> None:
        lines = self.batches.pop(key, None)
        self.batch_size.pop(key, None)
        if not lines:
            return
        site, infno = key
        last = lines[-1]
        head = self.head(lines[0], infno + "A")
        head["inf_time"] = self.upload_time(last)
        rows = []
        for line in lines:
            row = self.body(line, infno)
            row["drugtracinfo"] = [{"drug_trac_codg": p.code} for p in line.packs]
            rows.append(row)
        detail = _DETAIL[NHSA_BODY[infno]]
        if len(rows) == 1 and self.sibling[site] and self.mix.random() < 0.5:
            codes = rows[0].pop("drugtracinfo")
            head["input"] = {detail: rows, "drugtracinfo": codes}
            self.count("batch_sibling_codes")
        else:
            head["input"] = {detail: rows}
        out.append(encode_json(head))
        self.count("batch_" + infno + "A")
        if self.mixed and infno in _SALE_INFNOS and self.mix.random() < RETRANSMIT:
            out.append(encode_json(self._resent(head, last)))
            self.count("retransmitted_" + infno + "A")

    # ------------------------------------------------------------------ settlement channel A
    def settlement(self, lines: list[Line], out: list[str], early: list[str]) -> None:
        c = self.city
        first = lines[0]
        site = c.sites[first.site]
        inpatient = self.inpatient[first.site]
        fee_infno, setl_infno, cancel_infno = ("2301", "2304", "2305") if inpatient else ("2204", "2207", "2208")
        one_time = all(ln.t == first.t for ln in lines)
        log = self.log[first.site] if one_time else "bare"
        psn = c.psn_no[first.patient]
        self.mdtrt_seq += 1
        mdtrt = site.site_id[1:7] + str(first.t // DAY).zfill(4) + str(self.mdtrt_seq).zfill(8)
        evening = inpatient and log != "bare"
        fee_rows, info = [], []
        medfee = 0.0
        for line in lines:
            self.fee_seq += 1
            sn = "FD" + str(self.fee_seq).zfill(12)
            product = c.products[line.prod]
            qty = int(line.qty)
            money = line.price * qty
            medfee += money
            if evening:   # ordered on the ward the day before the discharge settlement
                fee_t = (line.t // DAY) * DAY - 3600 * (1 + int(self.mix.random() * 4))
            elif log != "bare":
                fee_t = line.t - 60 - int(self.mix.random() * 900)
            else:
                fee_t = line.t   # a bare request's codes take this time: the sale's
            fee_rows.append({
                "feedetl_sn": sn, "mdtrt_id": mdtrt, "psn_no": psn, "chrg_bchno": "C" + mdtrt,
                "rxno": line.rxno, "rx_circ_flag": "0", "fee_ocur_time": self.time_str(fee_t),
                "med_list_codg": product.code, "medins_list_codg": product.hilist_id,
                "medins_list_name": product.name, "det_item_fee_sumamt": money, "cnt": qty, "pric": line.price,
                "bilg_dept_codg": "A01", "bilg_dr_codg": c.prescriber_ids[line.prescriber],
                "bilg_dr_name": c.prescriber_names[line.prescriber], "hosp_appr_flag": "1",
            })
            for pack in line.packs:
                info.append({"feedetl_sn": sn, "drug_trac_codg": pack.code, "trdn_flag": "1" if line.split else "0",
                             "min_prcunt_type": "2" if line.split else "1"})
        last_t = max(ln.t for ln in lines)
        # uploaded before the settlement (a bare request's fee lines carry the sale times: at the last of them)
        fee_upload = last_t if log == "bare" else first.t - 10 - int(self.mix.random() * 50)
        fee_msg = {"infno": fee_infno, "msgid": self.msgid(first), "fixmedins_code": site.site_id,
                   "inf_time": self.time_str(fee_upload), "input": {"feedetail": fee_rows}}
        if evening:
            fee_msg["inf_time"] = self.time_str((first.t // DAY) * DAY - 600 - int(self.mix.random() * 3000))
            early.append(encode_json(fee_msg))
            self.count("fee_details_evening_before")
        else:
            out.append(encode_json(fee_msg))
        fund = round(sum((ln.fund or 0.0) for ln in lines), 2)

        def request(setl_id: str, t: int, bare: bool) -> dict:
            data = {"psn_no": psn, "mdtrt_id": mdtrt, "chrg_bchno": "C" + mdtrt, "insutype": "310",
                    "medfee_sumamt": medfee, "psn_setlway": "01", "acct_used_flag": "0", "mid_setl_flag": "0"}
            if bare:
                data["setl_id"] = setl_id
            return {"infno": setl_infno, "msgid": self.msgid(_copy_line(first, t=t)), "fixmedins_code": site.site_id,
                    "inf_time": self.time_str(max(t, last_t) + 1 + int(self.mix.random() * 20)),
                    "input": {"data": data, "drug_trac_info": info}}

        def response(setl_id: str, t: int) -> dict:
            return {"setlinfo": {"setl_id": setl_id, "mdtrt_id": mdtrt, "psn_no": psn, "setl_time": self.time_str(t),
                                 "medfee_sumamt": medfee, "fund_pay_sumamt": fund,
                                 "psn_cash_pay": round(medfee - fund, 2), "insutype": "310"}}

        def render(msg: dict, setl_id: str, t: int, shape: str) -> str:
            if shape == "bare":
                return encode_json(msg)
            if shape == "envelope":
                return encode_json({"request": msg, "response": {"infcode": 0, "inf_refmsgid": msg["msgid"],
                                                             "output": response(setl_id, t)}})
            return encode_json({**msg, "infcode": 0, "output": response(setl_id, t)})

        if self.mixed and self.mix.random() < RESETTLE:
            # settled first under another setl_id, that settlement cancelled, then settled again
            self.extra_setl += 1
            wrong = "S9" + str(self.extra_setl).zfill(11)
            t0 = first.t - 120 - int(self.mix.random() * 900)
            out.append(render(request(wrong, t0, log == "bare"), wrong, t0, "pair" if log == "bare" else log))
            cancel = {"infno": cancel_infno, "msgid": self.msgid(_copy_line(first, t=t0 + 60)),
                      "fixmedins_code": site.site_id, "inf_time": self.time_str(t0 + 60),
                      "input": {"data": {"setl_id": wrong, "mdtrt_id": mdtrt, "psn_no": psn,
                                         "fixmedins_code": site.site_id}}}
            out.append(encode_json({**cancel, "infcode": 0, "output": {}}) if log != "bare" else encode_json(cancel))
            self.count("cancelled_" + cancel_infno)
        msg = request(first.setl, first.t, log == "bare")
        if self.mixed and self.mix.random() < REVERSAL:
            # timed out: no response logged, no setl_id known; reversed by 2601 and sent again
            timed_out = dict(msg)
            timed_out["input"] = {"data": {k: v for k, v in msg["input"]["data"].items() if k != "setl_id"},
                                  "drug_trac_info": info}
            out.append(encode_json(timed_out))
            undo = {"infno": "2601", "msgid": self.msgid(_copy_line(first, t=first.t + 30)),
                    "fixmedins_code": site.site_id, "inf_time": self.time_str(first.t + 60),
                    "input": {"data": {"psn_no": psn, "omsgid": msg["msgid"], "oinfno": setl_infno,
                                       "fixmedins_code": site.site_id}}}
            out.append(encode_json(undo))
            msg = dict(msg)
            msg["msgid"] = self.msgid(_copy_line(first, t=first.t + 90))
            self.count("reversed_" + setl_infno)
        out.append(render(msg, first.setl, first.t, log))
        self.count("settlement_" + setl_infno)
        if self.mixed and self.mix.random() < RETRANSMIT:
            again = dict(msg)
            again["msgid"] = self.msgid(_copy_line(first, t=first.t + 300))
            out.append(render(again, first.setl, first.t, log))
            self.count("retransmitted_" + setl_infno)
        if self.mixed and self.mix.random() < BOTH_CHANNELS:
            whole = not any(ln.split for ln in lines)
            shape = self.rest_style[first.site]
            if whole and self.mix.random() < BOTH_WITHOUT_SETL:
                shift = 60 + int(self.mix.random() * 180)
                for line in lines:
                    self.scan(_copy_line(line, setl=None, t=line.t + shift), out, shape)
                self.count("both_channels_without_setl_id")
            else:
                for line in lines:
                    self.scan(line, out, shape)
                self.count("both_channels")
