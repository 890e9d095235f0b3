"""`python -m app.cli`: the same as the `insitechart` command."""

from app.cli.main import main

raise SystemExit(main())
