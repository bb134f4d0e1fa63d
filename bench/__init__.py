"""Benchmarks of shared/BENCHMARKS.md: `python -m bench.<name> [--quick]` prints one JSON object."""
