"""Benchmarks of the analysis engine (see docs/bench-ingest.md)."""
