"""``python -m dass.cli`` runs the command line, as ``python -m dass`` does."""

from dass.cli import main

raise SystemExit(main())
