"""Dynamic margin risk oracle: risk engine, keeper and client of the on-chain margin-parameter
registry."""

__version__ = "0.1.0"
