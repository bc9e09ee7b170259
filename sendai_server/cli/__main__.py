"""`python -m sendai_server.cli ...`: the same command line, from a checkout or any venv."""

from . import main

main()
