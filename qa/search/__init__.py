"""Search: a question → ranked passages (cleaning, follow-ups, translation, BM25, dense, fusion, answer types)."""
