"""Benchmarks P1-P8 (bench/README.md): `python -m bench.<name> [--quick]`, one JSON object each."""
