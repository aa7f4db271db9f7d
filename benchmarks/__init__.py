"""Benchmark scripts: each answers one question and writes one result file (see README.md beside this file)."""
