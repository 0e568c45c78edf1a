"""Formats: real PDF, DOCX, HTML and Markdown files made in the tests, parsed into sections, pages,
years and offsets that round-trip through `document_text`; chrome (headers, navigation) dropped."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from qa.index.build import open_index
from qa.ingest.corpus import document_text, load_corpus
from tests.conftest import write_corpus

FILLER = ("The Corps raised the poverty line to 2300 Yuan per person and year, in line with the national "
          "standard, and counted the households below it farm by farm. ")


def make_pdf(path: Path, *, title: str | None = "Statistical Yearbook of Xinjiang") -> Path:
    """Two pages, a running header, a "Page N" footer, two headings, a paragraph over the break."""
    fpdf = pytest.importorskip("fpdf", reason="fpdf2 (test-only) makes the PDF")

    class Yearbook(fpdf.FPDF):
        def header(self):
            self.set_font("Helvetica", size=9)
            self.cell(0, 8, "Xinjiang Statistical Yearbook 2012", align="C")
            self.ln(12)

        def footer(self):
            self.set_y(-15)
            self.set_font("Helvetica", size=9)
            self.cell(0, 10, f"Page {self.page_no()}", align="C")

    pdf = Yearbook()
    if title:
        pdf.set_title(title)
    pdf.add_page()

    def heading(text):
        pdf.set_font("Helvetica", "B", 14)
        pdf.multi_cell(0, 8, text)
        pdf.ln(3)
        pdf.set_font("Helvetica", size=11)

    def para(text):
        pdf.multi_cell(0, 6, text)
        pdf.ln(4)

    heading("Poverty line")
    for i in range(1, 5):
        para(("In 2012, f" if i == 1 else "F") + f"arm group {i} reported its figures. " + FILLER * 4)
    para("The long paragraph on investment starts here. "
         + " ".join(f"Project {i} received {i * 3} million Yuan for wells, roads and schools in the border farms;"
                    for i in range(1, 30))
         + " and the audit closed in December.")
    heading("Training")
    para("In 2011 and 2012 the Corps trained 5,000 officials in poverty alleviation work.")
    pdf.output(str(path))
    return path


def make_docx(path: Path) -> Path:
    import docx

    d = docx.Document()
    d.add_paragraph("新疆生产建设兵团扶贫开发报告", style="Title")
    d.add_paragraph("本报告介绍兵团的扶贫开发工作。")
    d.add_heading("概述", level=1)
    d.add_paragraph("2011年，兵团认真贯彻中央扶贫开发工作会议精神。")
    d.add_paragraph("2011年兵团共投入扶贫资金2.61亿元。")
    d.add_heading("贫困线", level=2)
    d.add_paragraph("按照国家新的扶贫标准，兵团将贫困线定为农民人均纯收入3500元。")
    d.add_paragraph("【资金管理】兵团规范扶贫资金管理，每年审计两次。")
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "师", "贫困人口"
    table.cell(1, 0).text, table.cell(1, 1).text = "第一师", "12000"
    d.save(str(path))
    return path


HTML = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Xinjiang Yearbook 2012 – Poverty</title></head><body>
<header><div class="logo">Yearbook Online</div>
<nav><ul><li><a href="/">Home</a></li><li><a href="/about">About the yearbook</a></li>
<li><a href="/archive">Archive of editions</a></li></ul></nav></header>
<div id="cookie-banner" class="cookie-consent">We use cookies to improve your experience on this site.
<button>Accept all cookies</button></div>
<main><article>
<h1>Poverty Alleviation in 2012</h1>
<p>In 2012, the Corps continued its work on poverty alleviation across the border farms, with new funding
and training programmes for poor households.</p>
<h2>Poverty line</h2>
<p>The poverty line was raised to 2300 Yuan per person per year, in line with the national standard set by
the central government.</p>
<p>About 48,000 people in the poor farms were below this line at the start of the year.</p>
<h2>Investment</h2>
<p>A total of 300 million Yuan was invested in anti-poverty projects, of which 120 million came from the
central budget.</p>
<p>【Funds management】 The funds were managed under a new accounting system that audited every project
twice a year.</p>
</article></main>
<footer><p>Copyright © 2013 Yearbook Online. All rights reserved.</p><p>Tel: +86 991 123 4567</p>
<a href="/privacy">Privacy policy</a></footer>
</body></html>
"""

MARKDOWN = """# 2013 Annual Report on Rural Development

Intro paragraph before any section,
wrapped over two lines.

## Poverty line

The line was set at 2736 Yuan.
    An indented line does not start a new paragraph in Markdown.

### Housing ###

Houses were rebuilt in **12 villages**.

```
# not a heading inside a code fence
```

【Roads】 The county paved 30 km of road.
"""


@pytest.fixture
def pdf_file(tmp_path):
    return make_pdf(tmp_path / "c" / "xinjiang.pdf") if (tmp_path / "c").mkdir() is None else None


def _round_trips(path: Path, passages) -> str:
    text = document_text(path)
    for p in passages:
        assert text[p.start:p.end] == p.text, p
    return text


def test_pdf_pages_sections_and_running_lines(pdf_file):
    doc = load_corpus(pdf_file.parent).documents[0]
    text = _round_trips(pdf_file, doc.passages)
    assert doc.title == "Statistical Yearbook of Xinjiang"
    assert [(p.section, p.page) for p in doc.passages] == [
        ("Poverty line", 1), ("Poverty line", 1), ("Poverty line", 1), ("Poverty line", 1),
        ("Poverty line", 1),  # starts on page 1 and continues on page 2
        ("Training", 2),
    ]
    assert [p.paragraph for p in doc.passages] == [1, 2, 3, 4, 5, 6]
    long = doc.passages[4]
    assert long.text.startswith("The long paragraph on investment") and long.text.endswith("closed in December.")
    assert "Project 29 received 87 million Yuan" in long.text  # the part on page 2 joined in
    assert "Yearbook 2012" not in text and "Page 1" not in text and "Page 2" not in text
    assert any("Xinjiang Statistical Yearbook 2012" in line for line in doc.dropped)
    assert any("page numbers" in line for line in doc.dropped)
    assert {p.year for p in doc.passages} == {2012}  # from the text: no year in the file name or title
    assert doc.passages[0].citation().endswith("¶1, p. 1")


def test_pdf_title_falls_back_to_file_name_and_year_from_it(tmp_path):
    (tmp_path / "c").mkdir()
    path = make_pdf(tmp_path / "c" / "yearbook-2010.pdf", title=None)
    doc = load_corpus(path.parent).documents[0]
    assert doc.title == "yearbook-2010"
    assert {p.year for p in doc.passages} == {2010}


def test_docx_title_headings_chinese_and_table(tmp_path):
    path = make_docx(tmp_path / "bingtuan.docx")
    doc = load_corpus(tmp_path).documents[0]
    _round_trips(path, doc.passages)
    assert doc.title == "新疆生产建设兵团扶贫开发报告"
    assert [(p.section, p.text) for p in doc.passages] == [
        (None, "本报告介绍兵团的扶贫开发工作。"),
        ("概述", "2011年，兵团认真贯彻中央扶贫开发工作会议精神。"),
        ("概述", "2011年兵团共投入扶贫资金2.61亿元。"),
        ("贫困线", "按照国家新的扶贫标准，兵团将贫困线定为农民人均纯收入3500元。"),
        ("资金管理", "兵团规范扶贫资金管理，每年审计两次。"),
        ("资金管理", "师 | 贫困人口"),
        ("资金管理", "第一师 | 12000"),
    ]
    assert {p.year for p in doc.passages} == {2011}
    assert {p.page for p in doc.passages} == {None}


def test_html_main_text_only_with_sections(tmp_path):
    root = write_corpus(tmp_path / "c", {"poverty.html": HTML})
    doc = load_corpus(root).documents[0]
    text = _round_trips(root / "poverty.html", doc.passages)
    assert doc.title == "Xinjiang Yearbook 2012 – Poverty"
    assert [p.section for p in doc.passages] == [None, "Poverty line", "Poverty line", "Investment",
                                                 "Funds management"]
    assert doc.passages[1].text.startswith("The poverty line was raised to 2300 Yuan")
    assert doc.passages[4].text.startswith("The funds were managed")
    for chrome in ("Home", "About the yearbook", "cookies", "Copyright", "Tel:", "Privacy policy", "Yearbook Online"):
        assert chrome not in text
    assert {p.year for p in doc.passages} == {2012}


def test_markdown_headings_become_sections(tmp_path):
    root = write_corpus(tmp_path / "c", {"rural.md": MARKDOWN})
    doc = load_corpus(root).documents[0]
    text = _round_trips(root / "rural.md", doc.passages)
    assert text == MARKDOWN  # Markdown offsets point into the file itself
    assert doc.title == "2013 Annual Report on Rural Development"
    assert [(p.section, p.text.split("\n")[0]) for p in doc.passages] == [
        (None, "Intro paragraph before any section,"),
        ("Poverty line", "The line was set at 2736 Yuan."),
        ("Housing", "Houses were rebuilt in **12 villages**."),
        ("Housing", "```"),
        ("Roads", "The county paved 30 km of road."),
    ]
    assert not any(p.text.lstrip().startswith("#") for p in doc.passages)
    assert {p.year for p in doc.passages} == {2013}


@pytest.mark.parametrize("name, content, reason", [
    ("corrupt.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ngarbage without xref\n", "not a readable PDF"),
    ("text.pdf", b"just some text pretending to be a PDF", "not a PDF file"),
    ("empty.pdf", b"", "empty file"),
    ("notzip.docx", b"plain text, not a zip", "not a DOCX file"),
    ("page.html", b"\x00\x01binary\x00", "binary"),
])
def test_unparseable_files_are_skipped_by_name(tmp_path, name, content, reason):
    root = write_corpus(tmp_path / "c", {"good.md": "# Good\n\nA paragraph.\n", name: content})
    corpus = load_corpus(root)
    assert [d.path for d in corpus.documents] == ["good.md"]
    assert [s.path for s in corpus.skipped] == [name]
    assert reason in corpus.skipped[0].reason


def test_zip_that_is_not_a_docx_is_skipped(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "not a word document")
    root = write_corpus(tmp_path / "c", {"good.txt": "Good\n\nA paragraph.\n", "fake.docx": buf.getvalue()})
    corpus = load_corpus(root)
    assert [s.path for s in corpus.skipped] == ["fake.docx"]
    assert "DOCX" in corpus.skipped[0].reason


def test_index_over_a_mixed_folder_carries_pages(tmp_path, fake_embedder):
    root = tmp_path / "c"
    root.mkdir()
    make_pdf(root / "xinjiang.pdf")
    make_docx(root / "bingtuan.docx")
    write_corpus(root, {"poverty.html": HTML, "rural.md": MARKDOWN,
                        "notes.txt": "Field notes 2014\n\n【Wells】 The town built 12 wells.\n",
                        "broken.pdf": b"%PDF-1.4\nbroken"})
    index, report = open_index(root, tmp_path / "index", fake_embedder)
    assert report is not None and report.documents == 5
    assert any(s.startswith("broken.pdf:") for s in report.skipped)
    by_doc = {}
    for p in index.passages:
        by_doc.setdefault(p.doc, []).append(p)
    assert sorted(by_doc) == ["bingtuan", "notes", "poverty", "rural", "xinjiang"]
    assert {p.page for p in by_doc["xinjiang"]} == {1, 2}
    assert all(p.page is None for d in ("bingtuan", "poverty", "rural", "notes") for p in by_doc[d])
    assert {p.year for p in by_doc["notes"]} == {2014}
    again, rebuilt = open_index(root, tmp_path / "index", fake_embedder)
    assert rebuilt is None and [p.id for p in again.passages] == [p.id for p in index.passages]


def test_short_chinese_page_in_gbk_keeps_title_and_drops_nav(tmp_path):
    html = ("<html><head><meta charset='gbk'><title>兵团扶贫开发 2011</title></head><body>"
            "<nav><a href='/'>首页</a><a href='/x'>关于我们</a></nav>"
            "<p>兵团将贫困线定为农民人均纯收入3500元，覆盖全部边境团场。</p>"
            "<footer>版权所有 中国国际扶贫中心</footer></body></html>").encode("gbk")
    root = write_corpus(tmp_path / "c", {"bt.htm": html})
    doc = load_corpus(root).documents[0]
    assert doc.title == "兵团扶贫开发 2011"
    assert [p.text for p in doc.passages] == ["兵团将贫困线定为农民人均纯收入3500元，覆盖全部边境团场。"]
    assert {p.year for p in doc.passages} == {2011}
    _round_trips(root / "bt.htm", doc.passages)


def test_running_lines_need_the_same_edge_and_to_stand_apart():
    from qa.ingest.pdf import _drop_running_lines

    pages = [["Annual Report 2012", "", "Body of page one", "goes here", "and ends the same way.", "", "- 1 -"],
             ["Annual Report 2012", "", "Body of page two", "differs", "and ends the same way.", "", "- 2 -"],
             ["Annual Report 2012", "", "Page three", "body text", "and ends the same way.", "", "- 3 -"]]
    dropped = _drop_running_lines(pages)
    assert dropped == ["Annual Report 2012 (page header/footer, 3 pages)", "page numbers (page header/footer, 3 pages)"]
    assert all(lines[4] == "and ends the same way." for lines in pages)  # the end of a body paragraph stays
    assert all(lines[0] == "" and lines[6] == "" for lines in pages)
