"""Benchmarks of shared/BENCHMARKS.md: `python -m bench.<name> [--quick]`, one JSON object each."""
