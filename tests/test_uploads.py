"""Upload validation (`qa.ingest.uploads`): every refusal has a clear reason, nothing lands outside the corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.ingest.uploads import MAX_UPLOAD_BYTES, UploadRejected, check_upload, safe_name, save_upload
from tests.conftest import make_report_pdf

GOOD = "Harbour Report 2014\n\n【Ships】 The harbour handled 1,250 ships in 2014.\n"


def _src(tmp_path: Path, name: str, data: bytes) -> Path:
    folder = tmp_path / "uploaded"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


@pytest.fixture
def corpus(tmp_path):
    c = tmp_path / "corpus"
    c.mkdir()
    (c / "existing.txt").write_text("Existing Report\n\nSome text about roads.\n", encoding="utf-8")
    return c


@pytest.mark.parametrize("name, expected", [
    ("report.pdf", "report.pdf"), ("Report 2011.DOCX", "Report 2011.DOCX"), ("dir/sub/notes.md", "notes.md"),
    ("C-drive\\win\\page.htm", "page.htm"), ("年鉴2012.txt", "年鉴2012.txt"),
])
def test_safe_name_strips_directories(name, expected):
    assert safe_name(name) == expected


@pytest.mark.parametrize("name, reason", [
    ("../x.txt", "outside the folder"), ("a/../../x.txt", "outside the folder"), ("..\\x.txt", "outside the folder"),
    ("/etc/passwd", "absolute path"), ("C:\\Windows\\x.txt", "absolute path"), ("\\\\server\\x.txt", "absolute path"),
    ("x\x00.txt", "control characters"), (".hidden.txt", "hidden"), ("notes/.env", "hidden"), ("", "no name"),
    ("report.exe", "type .exe is not accepted"), ("README", "type (none) is not accepted"),
    ("dir/", "empty"), ("a" * 200 + ".txt", "longer than"),
])
def test_safe_name_rejects(name, reason):
    with pytest.raises(UploadRejected, match=reason.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        safe_name(name)


def test_wrong_type_by_extension_and_by_content(tmp_path, corpus):
    with pytest.raises(UploadRejected, match=r"^virus\.exe: type \.exe is not accepted"):
        save_upload(_src(tmp_path, "virus.exe", b"MZ\x90\x00"), "virus.exe", corpus)
    with pytest.raises(UploadRejected, match=r"^fake\.pdf: not a PDF file"):
        save_upload(_src(tmp_path, "fake.pdf", b"just text, not a pdf"), "fake.pdf", corpus)
    with pytest.raises(UploadRejected, match=r"^pdf-as\.txt: binary file: a PDF file named \.txt"):
        save_upload(_src(tmp_path, "pdf-as.txt", b"%PDF-1.4 ..."), "pdf-as.txt", corpus)
    with pytest.raises(UploadRejected, match=r"^fake\.docx: not a DOCX file"):
        save_upload(_src(tmp_path, "fake.docx", b"<html>hi</html>"), "fake.docx", corpus)
    assert _files(corpus) == {"existing.txt"}


def test_oversized(tmp_path, corpus):
    big = _src(tmp_path, "big.txt", b"a" * 2048)
    with pytest.raises(UploadRejected, match=r"^big\.txt: the file is 0\.0 MB; the limit is 0 MB"):
        check_upload(big, "big.txt", max_bytes=1024)
    huge = tmp_path / "uploaded" / "huge.txt"
    with open(huge, "wb") as f:  # sparse: the size is checked before anything is read
        f.truncate(MAX_UPLOAD_BYTES + 1)
    with pytest.raises(UploadRejected, match=r"the file is 20\.0 MB; the limit is 20 MB"):
        save_upload(huge, "huge.txt", corpus)
    assert _files(corpus) == {"existing.txt"}


@pytest.mark.parametrize("name", ["../x.txt", "../../etc/x.txt", "/etc/passwd", "/tmp/evil.txt"])
def test_path_tricks_write_nothing_anywhere(tmp_path, corpus, name):
    src = _src(tmp_path, "x.txt", GOOD.encode())
    before_parent = _files(corpus.parent)
    with pytest.raises(UploadRejected):
        save_upload(src, name, corpus)
    assert _files(corpus.parent) == before_parent


def test_corrupt_pdf_is_rejected_and_removed(tmp_path, corpus):
    src = _src(tmp_path, "broken.pdf", b"%PDF-1.4\n" + b"garbage " * 200)
    with pytest.raises(UploadRejected, match=r"^broken\.pdf: cannot be read as a report \(not a readable PDF"):
        save_upload(src, "broken.pdf", corpus)
    assert _files(corpus) == {"existing.txt"}  # no temporary file left either


@pytest.mark.parametrize("data", [b"", b"   \n\t\n"])
def test_empty_file(tmp_path, corpus, data):
    with pytest.raises(UploadRejected, match=r"^empty\.txt: (the file is empty|empty file)"):
        save_upload(_src(tmp_path, "empty.txt", data), "empty.txt", corpus)
    assert _files(corpus) == {"existing.txt"}


def test_valid_files_are_written_without_overwriting(tmp_path, corpus):
    saved = save_upload(_src(tmp_path, "harbour.txt", GOOD.encode()), "reports/harbour.txt", corpus)
    assert saved.path == corpus.resolve() / "harbour.txt" and saved.duplicate_of is None
    assert saved.path.read_text(encoding="utf-8") == GOOD
    other = GOOD.replace("1,250", "1,300").encode()
    second = save_upload(_src(tmp_path, "harbour.txt", other), "harbour.txt", corpus)
    assert second.path.name == "harbour-2.txt" and second.path.read_bytes() == other
    assert (corpus / "harbour.txt").read_text(encoding="utf-8") == GOOD  # not overwritten
    again = save_upload(_src(tmp_path, "copy.txt", GOOD.encode()), "copy.txt", corpus)
    assert again.duplicate_of == "harbour.txt"  # identical bytes: nothing new written
    pdf = save_upload(make_report_pdf(tmp_path / "uploaded" / "gadget.pdf"), "gadget.pdf", corpus)
    assert pdf.path.name == "gadget.pdf"
    assert _files(corpus) == {"existing.txt", "harbour.txt", "harbour-2.txt", "gadget.pdf"}
