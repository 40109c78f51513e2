"""Benchmarks measured against a named peer in the same run (`python -m bench --help`)."""
