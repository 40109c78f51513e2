"""Compute: providers, private requests, grants and usage logs (basic service; D4, D9).

``items`` (every type the chapters give, integers only per D10), ``clearing`` (the declared,
deterministic clearing rule) and ``machine`` (the committee's replicated machine). Requests
arrive in cleartext only inside the committee, from the module's shuffle (D6); public records
carry request ids, never a requester identity.
"""
