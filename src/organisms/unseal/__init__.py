"""unseal: the t-of-n committee that turns sealed zipnet payloads into cleartext.

``items`` (config, commands and the public records: UnsealedRound, ShareBundle, BadShare),
``machine`` (the replicated machine: registration, the DKG transcript, ingest, verified shares,
combination) and ``member`` (one member's private core: its DKG secrets and partial
decryptions). The cryptography is ``coalition.crypto`` (decision 0010); the layout follows the
builder book's unseal page (decision D6).
"""
