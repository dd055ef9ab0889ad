"""The `canbao` command line (entry point `canbao = canbao.cli:main`; `canbao.cli.main(argv)` in-process)."""

from canbao.cli.main import cli, main

__all__ = ["cli", "main"]
