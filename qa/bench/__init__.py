"""`python -m qa bench`: speed figures (build, query latency, cold start, reader, vector-search scale)."""
