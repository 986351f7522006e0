"""``python -m mediagw`` is the ``mediagw`` command."""

from mediagw.cli import main

main()
