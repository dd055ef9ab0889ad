"""`python -m canbao.cli …`, as the `canbao` command."""

from canbao.cli.main import main

main()
