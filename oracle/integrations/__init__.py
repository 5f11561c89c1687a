"""Bridges from the registry to the protocols that consume it (Aave v3 today). They sit above the
pipeline, beside the keeper, which drives them; nothing in the pipeline imports them."""
