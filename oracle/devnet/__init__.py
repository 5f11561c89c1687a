"""Development infrastructure, named as such: a local Anvil, the Binance-format exchange emulator,
Anvil's public test accounts, a registry deployed with a dev profile, and the market actors (an
arbitrageur, a liquidator) that make a local chain behave like a market.

Tests, benchmarks and the demo use it; the product never does (an import-linter contract in
`make lint` forbids it), so nothing here can end up in a keeper's path to a real chain.
"""
