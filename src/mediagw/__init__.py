"""Media Gateway reference services — the system under test.

One subpackage per service plus ``common``; never imports ``harness`` (DESIGN.md §1).
"""

__version__ = "0.1.0"
