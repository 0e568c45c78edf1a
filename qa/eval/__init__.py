"""Evaluation: question sets, metrics, BEIR, the report and its rendering, and `python -m qa eval`."""
