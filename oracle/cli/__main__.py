"""`python -m oracle.cli`: the same entry point as the `oracle` script."""

from oracle.cli import run

run()
