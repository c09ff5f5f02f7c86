"""The printable dossier: `rxring report --format pdf` and the package's summary.zh.pdf / summary.en.pdf.

The PDFs are read back with pypdf (pages, page numbers, footers, text) and rendered
to PNG with poppler's pdftoppm, to check that the Chinese set in the built-in CID
font STSong-Light shows as glyphs, not as tofu boxes.  The renders are kept under
``$RXRING_TEST_ARTIFACTS`` or ``tests/artifacts`` (``pdf-*.png``), like the browser
screenshots.  Without pdftoppm (``scripts/install-browser.sh`` installs
poppler-utils) the CI rule applies: fail under ``CI=true``, skip elsewhere.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader

from rxring.report import build_evidence, build_report
from rxring.report.pdf import MAX_ROWS
from rxring.report.sources import inputs_listing
from rxring.workspace import Workspace

from .conftest import BIG_RING_PATIENTS, XSS_SCRIPT

ARTIFACTS = Path(os.environ.get("RXRING_TEST_ARTIFACTS") or Path(__file__).resolve().parents[1] / "artifacts")


def pages_text(data: bytes) -> list[str]:
    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]


def render(pdf: Path, unavailable, dpi: int, first: int = 1, last: int | None = None) -> list[Path]:
    """Pages of ``pdf`` as PNG files (pdftoppm), copied to the artefacts folder; no font or CMap warnings allowed."""
    binary = shutil.which("pdftoppm")
    if binary is None:
        unavailable("pdftoppm not found (poppler-utils; scripts/install-browser.sh installs it)")
    prefix = pdf.with_suffix("")
    command = [binary, "-r", str(dpi), "-png", "-f", str(first)] + (["-l", str(last)] if last else []) + [str(pdf), str(prefix)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr   # e.g. "Couldn't find 'UniGB-UCS2-H' CMap"
    pngs = sorted(pdf.parent.glob(prefix.name + "-*.png"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for png in pngs:
        shutil.copy(png, ARTIFACTS / f"pdf-{png.name}")
    return pngs


def glyph_cells(png: Path, count: int, font_pt: float, dpi: int):
    """The first ``count`` full-width character cells of the topmost line of ink on the page (grey bitmaps).

    Cells are ``font_pt`` wide from the line's first ink; each boundary snaps to the emptiest
    pixel column within 3 px, so a cell holds one glyph (or one tofu box) whole.
    """
    from PIL import Image

    image = Image.open(png).convert("L")
    width, height = image.size
    pixels = image.load()
    ink_rows = [y for y in range(height // 3) if any(pixels[x, y] < 128 for x in range(width))]
    assert ink_rows, "page 1 has no ink at the top"
    top = bottom = ink_rows[0]
    while bottom + 1 in ink_rows:
        bottom += 1
    ink = [sum(1 for y in range(top, bottom + 1) if pixels[x, y] < 128) for x in range(width)]
    step = font_pt * dpi / 72
    left = next(x for x in range(width) if ink[x]) - 1
    edges = [left]
    for n in range(1, count + 1):
        guess = round(left + n * step)
        edges.append(min(range(guess - 3, guess + 4), key=lambda x: (ink[x], abs(x - guess))))
    return [image.crop((a, top, b, bottom + 1)).resize((24, 24)) for a, b in zip(edges, edges[1:])]


def differs(a, b) -> float:
    """Share of pixels of two cells that differ by more than half the grey range."""
    pa, pb = a.tobytes(), b.tobytes()
    return sum(1 for x, y in zip(pa, pb) if abs(x - y) > 128) / len(pa)


def test_report_pdf_pages_numbers_and_footers(fixture_case, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")   # the time printed: two builds give the same bytes
    ws = Workspace(fixture_case.root)
    (path,) = build_report(fixture_case.root, "pdf", "zh", tmp_path / "report.pdf")
    data = path.read_bytes()
    texts = pages_text(data)
    total = len(texts)
    digest = hashlib.sha256(inputs_listing(json.loads(ws.manifest_path.read_text(encoding="utf-8")))).hexdigest()
    for number, text in enumerate(texts, start=1):
        assert f"第 {number} / {total} 页" in text and digest in text, (number, text[-300:])
    assert "回流药团伙报告" in texts[0] and "团伙 R001（" not in texts[0]
    starts = [n for n, text in enumerate(texts) for ring in ("R001", "R002") if f"团伙 {ring}（排名" in text]
    assert len(starts) == 2 and starts[0] < starts[1], starts          # each ring starts its own page
    whole = "\n".join(texts)
    assert XSS_SCRIPT + "大药房" in whole                               # hostile names printed as text
    hidden = BIG_RING_PATIENTS - MAX_ROWS
    assert f"另有 {hidden} 行未列出，全部见 rxring report --format csv --ring R002" in whole.replace("\n", "")
    assert build_report(fixture_case.root, "pdf", "zh", tmp_path / "again.pdf")[0].read_bytes() == data


def test_package_pdfs_carry_the_package_digest(small_case, tmp_path):
    package = build_evidence(small_case.root, "R001", tmp_path / "case.zip")
    with zipfile.ZipFile(package.path) as archive:
        manifest = archive.read("MANIFEST.sha256").decode("utf-8")
        pdfs = {lang: archive.read(f"summary.{lang}.pdf") for lang in ("zh", "en")}
        members_csv = archive.read("members.csv").decode("utf-8-sig")
    assert ".pdf" not in manifest and package.digest == hashlib.sha256(manifest.encode("utf-8")).hexdigest()
    for lang, word in (("zh", "证据包摘要"), ("en", "Package digest")):
        texts = pages_text(pdfs[lang])
        for number, text in enumerate(texts, start=1):
            page = f"第 {number} / {len(texts)} 页" if lang == "zh" else f"Page {number} of {len(texts)}"
            assert page in text and f"{word}: {package.digest}" in text, (lang, number)
    zh = "\n".join(pages_text(pdfs["zh"]))
    for heading in ("来源参保人", "洗白药店", "团伙关系图", "线索", "每盒药的流转记录", "追溯码"):
        assert heading in zh, heading
    first_member = members_csv.splitlines()[1].split(",")[2]
    assert first_member and first_member in zh                          # masked ids as in members.csv


def test_pdf_cjk_renders_as_glyphs_not_tofu(small_case, tmp_path, unavailable):
    package = build_evidence(small_case.root, "R001", tmp_path / "case.zip")
    with zipfile.ZipFile(package.path) as archive:
        zh = tmp_path / "summary.zh.pdf"
        zh.write_bytes(archive.read("summary.zh.pdf"))
    pngs = render(zh, unavailable, dpi=100)
    assert len(pngs) == len(PdfReader(zh).pages) >= 3
    fonts = {str(font.get("/BaseFont")) for page in PdfReader(zh).pages
             for font in (page["/Resources"].get("/Font") or {}).values()}
    assert "/STSong-Light" in fonts
    # The title starts with "回流药团伙案件材料", 16 pt full-width glyphs.
    cells = glyph_cells(pngs[0], 9, font_pt=16, dpi=100)
    inked = [sum(1 for v in cell.tobytes() if v < 128) for cell in cells]
    assert all(n > 15 for n in inked), inked                             # every character drew something
    pairs = sorted(differs(a, b) for i, a in enumerate(cells) for b in cells[i + 1:])[:3]
    assert not looks_like_tofu(cells), pairs


def looks_like_tofu(cells) -> bool:
    """Tofu boxes are one shape repeated: some two cells are (nearly) the same; real glyphs all differ."""
    return min(differs(a, b) for i, a in enumerate(cells) for b in cells[i + 1:]) <= 0.03


def test_the_tofu_check_fires(tmp_path):
    """A line of empty boxes at the glyphs' pitch is tofu to :func:`looks_like_tofu`."""
    from PIL import Image, ImageDraw

    page = Image.new("L", (800, 300), 255)
    draw = ImageDraw.Draw(page)
    for n in range(12):
        x = 40 + n * 16 * 100 / 72
        draw.rectangle((x + 2, 30, x + 19, 52), outline=0)
    page.save(tmp_path / "tofu.png")
    assert looks_like_tofu(glyph_cells(tmp_path / "tofu.png", 9, font_pt=16, dpi=100))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_pdf_renders_every_page(fixture_case, tmp_path, unavailable, lang):
    (path,) = build_report(fixture_case.root, "pdf", lang, tmp_path / f"report-{lang}.pdf")
    pngs = render(path, unavailable, dpi=40)
    assert len(pngs) == len(PdfReader(path).pages)
    assert all(re.search(r"-\d+\.png$", p.name) for p in pngs)


def test_the_title_page_says_what_the_dossier_holds(small_case, fixture_case, tmp_path, unavailable):
    """The first page is no blank sheet: what was found, the rings at a glance, the rules, the contents."""
    from PIL import Image

    package = build_evidence(small_case.root, "R001", tmp_path / "case.zip")
    with zipfile.ZipFile(package.path) as archive:
        dossiers = {lang: archive.read(f"summary.{lang}.pdf") for lang in ("zh", "en")}
    (report,) = build_report(fixture_case.root, "pdf", "zh", tmp_path / "report.pdf")
    first = {lang: pages_text(data)[0] for lang, data in dossiers.items()}
    for heading in ("发现了什么", "团伙概况", "规则", "本卷宗内容", "电子数据提取笔录", "每盒药的流转记录",
                    "团伙 R001（排名", "个人信息已脱敏。本文件是证据包的打印版"):
        assert heading in first["zh"].replace("\n", ""), heading
    assert "The rings at a glance" in first["en"] and "Contents" in first["en"]
    report_first = pages_text(report.read_bytes())[0]
    assert "团伙概况" in report_first and "R002" in report_first and "团伙 2 个" in report_first
    assert "电子数据提取笔录" not in report_first   # a report has no extraction record
    for data, name in ((dossiers["zh"], "cover-zh.pdf"), (report.read_bytes(), "cover-report.pdf")):
        path = tmp_path / name
        path.write_bytes(data)
        page = Image.open(render(path, unavailable, dpi=30, first=1, last=1)[0]).convert("L")
        pixels = page.load()
        inked = [y for y in range(int(page.height * 0.9)) if any(pixels[x, y] < 128 for x in range(page.width))]
        assert inked and inked[-1] > page.height * 0.35, (name, inked[-1] / page.height)


def test_report_pdf_prints_each_rings_chain_of_custody(fixture_case, tmp_path):
    """`rxring report --format pdf` prints the chain of custody of each ring's first boxes, as the package does."""
    (path,) = build_report(fixture_case.root, "pdf", "zh", tmp_path / "report.pdf")
    texts = pages_text(path.read_bytes())
    whole = "\n".join(texts)
    starts = [n for n, text in enumerate(texts) for ring in ("R001", "R002") if f"团伙 {ring}（排名" in text]
    custody = [n for n, text in enumerate(texts) if "每盒药的流转记录" in text and n > 0]
    assert len(custody) >= 2 and starts[0] <= custody[0] < starts[1] <= custody[-1], (starts, custody)
    assert "来源文件:行" in whole and "证据事件" in whole and "采购入库" in whole
    assert "sales.jsonl:2" in whole and whole.replace("\n", "").count(str(fixture_case.root.parent)) == 1  # the
    # workspace line of the title page: the custody rows name the input files as inputs.sha256 does
