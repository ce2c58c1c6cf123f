"""``python -m roamlike.cli``: the same as the ``roamlike`` command."""

from roamlike.cli import main

main()
