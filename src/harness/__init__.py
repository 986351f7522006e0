"""The Media Gateway harness: backends, stack launcher, load, stats, reports, alerting checks.

The harness talks to the system under test only over its public APIs; see DESIGN.md §1.
"""

__version__ = "0.1.0"
