"""Benchmarks: each prints its figures and appends them to docs/benchmarks.md."""
