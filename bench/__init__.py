"""Benchmarks, and the scripted upstream they share with the tests."""
