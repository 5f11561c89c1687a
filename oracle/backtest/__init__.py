"""Backtests: the keeper's own risk engine and policy replayed on historical prices against a
lending-market simulator, next to a static baseline on the same path."""
