"""The policy: what to push given a recommendation and the chain's state (`decide`), and a pure
mirror of the registry's rules (`rules`). Pure and deterministic: no I/O, no clock."""

from oracle.policy.decide import Action, Decision, OnChain, PolicySettings, decide

__all__ = ["Action", "Decision", "OnChain", "PolicySettings", "decide"]
