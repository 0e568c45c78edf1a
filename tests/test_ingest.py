"""Ingest of plain-text reports: the real seed report, paragraphs, ids, boilerplate, bad files."""

from __future__ import annotations

import pytest

from qa.errors import CorpusEmpty
from qa.ingest.corpus import chrome_kind, document_text, find_year, load_corpus, parse_report
from tests.conftest import SEED, SEED_ID, write_corpus

SEED_SECTIONS = [
    "Overview",
    "Implement the spirit of the central work conference on poverty alleviation and development",
    "Poverty line",
    "Poverty alleviation and development mechanism",
    "Pro-poor measures",
    "Infrastructure construction",
    "Social poverty alleviation",
    "Pairing-off poverty alleviation for Xinjiang",
    "Poverty alleviation by science and technology",
    "Off-site relocation for poverty alleviation",
    "Personnel training",
    "Investment of anti-poverty funds",
    "Management of anti-poverty funds",
    "Poverty alleviation publicity",
    "Research of poverty alleviation",
]
SEED_TITLE = "Poverty Alleviation and Development in Xinjiang Production and Construction Corps"


@pytest.fixture(scope="module")
def seed_doc(seed_corpus):
    corpus = load_corpus(seed_corpus)
    return next(d for d in corpus.documents if d.id == SEED_ID)


def test_seed_parses_into_its_15_sections_in_order(seed_doc):
    assert [p.section for p in seed_doc.passages] == SEED_SECTIONS
    assert [p.paragraph for p in seed_doc.passages] == list(range(1, 16))
    assert seed_doc.title == SEED_TITLE == SEED.read_text(encoding="utf-8").splitlines()[0].strip()
    assert all(p.title == SEED_TITLE and p.doc == SEED_ID for p in seed_doc.passages)


def test_seed_offsets_round_trip_against_the_file(seed_doc):
    text = SEED.read_text(encoding="utf-8")
    assert document_text(SEED) == text
    for p in seed_doc.passages:
        assert text[p.start:p.end] == p.text
        assert not p.text.startswith("【") and p.text == p.text.strip()
    assert "3500" in seed_doc.passages[2].text  # 【Poverty line】


def test_seed_footer_is_dropped_and_reported(seed_doc):
    for p in seed_doc.passages:
        assert not any(mark in p.text for mark in ("版权所有", "ICP", "地址", "扫描下载"))
    assert len(seed_doc.dropped) == 3
    assert any("版权所有" in line for line in seed_doc.dropped)
    assert any(line.startswith("地址") for line in seed_doc.dropped)


def test_seed_year_and_no_pages(seed_doc):
    assert {p.year for p in seed_doc.passages} == {2011}
    assert {p.page for p in seed_doc.passages} == {None}


def test_seed_ids_are_stable_and_known(seed_doc, seed_corpus):
    again = load_corpus(seed_corpus).documents[0]
    assert [p.id for p in again.passages] == [p.id for p in seed_doc.passages]
    assert seed_doc.passages[0].id == "xpcc-poverty-alleviation-2011#510f1b533f"
    assert seed_doc.passages[2].id == "xpcc-poverty-alleviation-2011#0388e254f0"
    assert len({p.id for p in seed_doc.passages}) == 15


MULTI = """A Yearbook of Examples 2015
Preface text before any heading, which belongs to no section.

      【Industry】 Industry grew by eight percent.

      Mining output doubled in the north.
      Textiles held steady.

【Agriculture】

Cotton was the main crop.

      Wheat came second.

      【Services】 Tourism recovered.
"""


def test_multi_paragraph_sections_and_headings_alone():
    title, passages, dropped = parse_report(MULTI, "ex", "fallback")
    assert title == "A Yearbook of Examples 2015" and dropped == []
    got = [(p.paragraph, p.section, p.text) for p in passages]
    assert got == [
        (1, None, "Preface text before any heading, which belongs to no section."),
        (2, "Industry", "Industry grew by eight percent."),
        (3, "Industry", "Mining output doubled in the north."),
        (4, "Industry", "Textiles held steady."),  # an indented line starts a new paragraph
        (5, "Agriculture", "Cotton was the main crop."),
        (6, "Agriculture", "Wheat came second."),
        (7, "Services", "Tourism recovered."),
    ]
    for p in passages:
        assert MULTI[p.start:p.end] == p.text


def test_editing_one_paragraph_keeps_the_other_ids():
    _, before, _ = parse_report(MULTI, "ex", "f")
    _, again, _ = parse_report(MULTI, "ex", "f")
    assert [p.id for p in before] == [p.id for p in again]
    edited = MULTI.replace("Cotton was the main crop.", "Cotton was by far the main crop of the year.")
    _, after, _ = parse_report(edited, "ex", "f")
    changed = {p.id for p in before} ^ {p.id for p in after}
    assert len(changed) == 2  # the edited paragraph's old and new id, nothing else
    assert [p.id for p in before if p.paragraph != 5] == [p.id for p in after if p.paragraph != 5]


@pytest.mark.parametrize("line, kind", [
    ("Copyright © 2020 Foo. All rights reserved.", "copyright"),
    ("Tel: +1 555 123 4567", "phone/fax"),
    ("Scan to download our app", "app download"),
    ("京ICP备2020039194号-2", "ICP licence"),
    ("Address: 1 Main Street, Springfield", "address"),
])
def test_boilerplate_is_recognised_by_rule(line, kind):
    assert chrome_kind(line) == kind


def test_long_report_sentence_about_copyright_is_kept():
    sentence = ("In 2011 the Corps trained 3,000 officials in intellectual property, including copyright law "
                "and the protection of the rights of authors, so that local enterprises could register their "
                "trademarks and defend their products in court when they were copied by competitors.")
    text = f"Report\n\n{sentence}\n\nCopyright © 2020 Foo. All rights reserved.\nTel: +1 555 123 4567\n"
    _, passages, dropped = parse_report(text, "r", "f")
    assert [p.text for p in passages] == [sentence]
    assert dropped == ["Copyright © 2020 Foo. All rights reserved.", "Tel: +1 555 123 4567"]


def test_bad_files_are_skipped_with_reasons(tmp_path):
    root = write_corpus(tmp_path / "c", {
        "good.txt": "Good report\n\nIt has one paragraph.\n",
        "latin1.txt": "Caf\xe9 report".encode("latin-1"),
        "binary.txt": b"\x00\x01\x02\x03 not text",
        "empty.txt": b"",
        "blank.md": "   \n\n",
        "pdf-in-disguise.txt": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
    })
    corpus = load_corpus(root)
    assert [d.path for d in corpus.documents] == ["good.txt"]
    reasons = {s.path: s.reason for s in corpus.skipped}
    assert "not valid UTF-8" in reasons["latin1.txt"]
    assert "binary" in reasons["binary.txt"]
    assert reasons["empty.txt"] == "empty file" and reasons["blank.md"] == "empty file"
    assert "PDF" in reasons["pdf-in-disguise.txt"]


def test_empty_corpus_folder_raises(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusEmpty):
        load_corpus(tmp_path / "empty")
    root = write_corpus(tmp_path / "only-bad", {"x.txt": b"\xff\xfe\x00"})
    with pytest.raises(CorpusEmpty, match="skipped 1"):
        load_corpus(root)


@pytest.mark.parametrize("name, title, text, year", [
    ("yearbook-2011.pdf", "Yearbook 2012", "In 2013 …", 2011),  # file name first
    ("report.pdf", "Poverty Alleviation in 2012", "In 2013 …", 2012),  # then the title
    ("report.txt", "Report", "In 2010 and 2011, then 2011 again.", 2011),  # then the most frequent
    ("report.txt", "Report", "In 2009 and in 2010.", 2009),  # a tie: the earliest seen
    ("report-20110503.txt", "Report", "No year here, only 3500 Yuan and 123456.", None),
    ("report.txt", "Report", "x" * 2000 + " 2011", None),  # beyond the first 2,000 characters
])
def test_year_rule(name, title, text, year):
    assert find_year(name, title, text) == year


def test_same_stem_in_two_formats_gets_distinct_ids(tmp_path):
    root = write_corpus(tmp_path / "c", {"r.txt": "R\n\nText one.\n", "r.md": "# R\n\nText two.\n"})
    ids = sorted(d.id for d in load_corpus(root).documents)
    assert ids == ["r", "r-txt"]
