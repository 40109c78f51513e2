"""Threshold cryptography shared by unseal, the randomness beacon and the threshold signer.

``group`` (the generic prime-order group and scalar arithmetic), one module per curve
(``ristretto``), ``dleq`` (Chaum–Pedersen proofs), ``dkg`` (joint-Feldman DKG with complaints),
``threshold`` (threshold ElGamal seal/partial/combine) and ``reply`` (the HPKE reply path).
All pure: randomness comes in as an ``Entropy`` callable, nothing touches the network or disk.
"""
