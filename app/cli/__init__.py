"""The `insitechart` command line.

One module a command (serve, migrate, seed and demo, apikey, ingest, plans, partitions); what they
share: the checks before they run (`checks`), options (`options`) and exit codes (`errors`).
"""

from app.cli.main import build_parser, main, package_version

__all__ = ["build_parser", "main", "package_version"]
