"""``python -m coalition`` runs the operator CLI."""

from .cli import main

main()
