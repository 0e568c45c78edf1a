"""Ingest: report files (text, HTML, PDF, DOCX) → documents of passages, sentences and embedding units."""
