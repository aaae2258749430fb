"""Benchmarks: ``python -m bench`` runs them all, ``python -m bench NAME [options]`` one.

Results, and how they were measured, are in docs/benchmarks.md.
"""
