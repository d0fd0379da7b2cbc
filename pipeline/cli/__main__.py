"""``python -m pipeline.cli``: the same as the ``claimsift`` command."""
from pipeline.cli.app import main

main()
