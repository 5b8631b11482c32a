"""Benchmarks: scripts that print figures. Never part of the test suite (see README.md)."""
