"""Pytest plugin: the backends, per-test isolation and the running stack as fixtures.

Lives inside ``harness`` (it was a top-level ``fixtures`` package, a name a PyPI package also
takes: installing that one could have shadowed it). ``conftest.py`` loads it."""
