"""The canonical scan-event table (DESIGN §2) and the shapes of findings and rings.

Every input format becomes rows of :data:`EVENT_SCHEMA`; every engine (embedded,
Neo4j, Spark) returns findings shaped as :data:`FINDING_COLUMNS` and rings as
:data:`RING_COLUMNS`.  These names are the project's contract: change them here or
nowhere.

Times are naive ``timestamp[us]`` in Asia/Shanghai local time (inputs carrying an
offset are converted to it first).
"""

import pyarrow as pa

from .rules.registry import RULE_IDS

LOCAL_TZ = "Asia/Shanghai"

EVENT_TYPES = (
    "inbound",
    "purchase_return",
    "dispense",
    "refund",
    "transfer_out",
    "transfer_in",
    "adjust",
    "inventory",
)

EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),        # stable id (given, NHSA msgid-derived, or file+line)
        ("trace_code", pa.string()),      # canonical code (see rxring.ingest.codes)
        ("event_type", pa.string()),      # one of EVENT_TYPES
        ("event_time", pa.timestamp("us")),
        ("site_id", pa.string()),         # fixmedins_code
        ("product_code", pa.string()),    # med_list_codg
        ("product_name", pa.string()),    # fixmedins_hilist_name
        ("batch", pa.string()),           # manu_lotnum
        ("expiry", pa.date32()),          # expy_end
        ("quantity", pa.float64()),       # packs, or smallest units when split_sale
        ("split_sale", pa.bool_()),       # trdn_flag = 1 (拆零)
        ("patient_id", pa.string()),      # psn_no
        ("prescriber_id", pa.string()),   # prsc_dr_certno (or prsc_dr_name)
        ("pharmacist_id", pa.string()),   # phar_certno
        ("settlement_id", pa.string()),   # setl_id
        ("fund_amount", pa.float64()),    # fund-paid money for this event
        ("total_amount", pa.float64()),   # finl_trns_pric x sel_retn_cnt, shared over codes
        ("counterparty", pa.string()),    # supplier (inbound) or other site
        ("record_no", pa.string()),       # fixmedins_bchno / medins_prod_sel_no (3507 deletes by it)
        ("code_kind", pa.string()),       # "cn20" or "gs1"
        ("code_product", pa.string()),    # cn20: leading 7 digits; gs1: GTIN-14
        ("code_serial", pa.string()),
        ("code_expiry", pa.date32()),     # GS1 AI 17
        ("code_lot", pa.string()),        # GS1 AI 10
        ("source_file", pa.string()),     # provenance, added by ingest
        ("source_line", pa.int64()),
    ]
)

EVENT_COLUMNS = tuple(EVENT_SCHEMA.names)

# Where an NHSA event came from: written after the EVENT_SCHEMA columns in the parts of
# JSON / JSON Lines inputs (rxring.ingest), null where the message does not say.  The
# columns needed to tell that two events are one sale reported twice (through both
# channels, or retransmitted under a new msgid).  Not part of EVENT_SCHEMA: every
# reader selects the EVENT_SCHEMA columns, so parts with or without these read alike.
EVENT_ORIGIN_SCHEMA = pa.schema(
    [
        ("message_id", pa.string()),      # msgid of the message the event came from
        ("visit_id", pa.string()),        # mdtrt_id (settlement channel) / mdtrt_sn (3505A ...)
        ("channel", pa.string()),         # the message's infno: 3501..3506, 3501A..3506A, 2207, 2304
    ]
)
EVENT_ORIGIN_COLUMNS = tuple(EVENT_ORIGIN_SCHEMA.names)
# What the engines read (``events_raw``, before ``row_key``): the canonical columns and the
# origin columns, which are null for events of parts that have none.
EVENT_READ_SCHEMA = pa.schema(list(EVENT_SCHEMA) + list(EVENT_ORIGIN_SCHEMA))
REQUIRED_EVENT_COLUMNS = ("trace_code", "event_type", "event_time", "site_id")

QUARANTINE_COLUMNS = ("source_file", "source_line", "reason", "raw")

# Master tables, recognised among the inputs by their headers.
MASTER_COLUMNS = {
    "sites": ("site_id", "name", "kind", "chain", "region"),
    "products": ("product_code", "name", "pack_units", "price"),
    "patients": ("patient_id", "name"),
    "prescribers": ("prescriber_id", "name"),
}

RULES = RULE_IDS   # the rule registry (rxring.rules.registry) is where rules are defined

# One finding: a rule fired on one box (or one code conflict); lists are sorted.
FINDING_COLUMNS = (
    "finding_id",     # stable: rule + code (+ discriminator), e.g. "RESURFACE:8210548...:1"
    "rule",           # one of RULES
    "trace_codes",    # list[str]
    "sites",          # list[str] every site involved
    "source_sites",   # list[str] where the box was first (legitimately) dispensed
    "laundering_sites",  # list[str] where it resurfaced / was resold
    "patients",       # list[str]
    "prescribers",    # list[str]
    "fund_amount",    # float: fund money at risk in this finding
    "total_amount",   # float: total money of the suspicious events
    "first_time",     # timestamp
    "last_time",      # timestamp
    "event_ids",      # list[str]: the events that prove it
    "explanation",    # one sentence for a non-programmer
    # added by the analysis area: the ring roles of the finding's people
    "source_patients",     # list[str]: patients of the source (first net) dispense; buyers excluded
    "source_prescribers",  # list[str]: prescribers of the source dispense
    # added for the Chinese outputs: the explanation in Chinese (rules.registry explanation_zh)
    "explanation_zh",      # str
)

RING_COLUMNS = (
    "ring_id",            # stable for the same inputs + seed, e.g. "R001"
    "rank",               # 1 = most suspicious
    "score",              # float, documented in rxring.rings
    "source_patients",    # list[str]
    "prescribers",        # list[str]
    "source_sites",       # list[str]
    "laundering_sites",   # list[str]
    "boxes",              # int: distinct trace codes
    "events",             # int: distinct events proving it
    "fund_at_risk",       # float
    "total_amount",       # float
    "first_time",
    "last_time",
    "rules",              # list[str]
    "finding_ids",        # list[str]
)
