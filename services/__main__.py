"""`python -m services` is the `rtw` command."""

from services.cli import main

main()
