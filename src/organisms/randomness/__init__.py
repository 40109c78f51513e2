"""Randomness: a committee's threshold-BLS beacon, one verifiable round per period (D12).

``items`` (config, card, commands, evidence), ``machine`` (key generation through
``coalition.keygen``, then one BeaconTick per round once t verified partials are in) and
``member`` (one member's private core). The cryptography is ``coalition.crypto.beacon``;
how rounds relate to Almanac ticks is decision 0011.
"""
