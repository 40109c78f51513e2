"""zipnet: anonymous broadcast for a bounded set of registered clients (a ZIPNet DC-net).

``params`` (round shape, ids, public records), ``dcnet`` (pads and the XOR algebra),
``client`` (a client's pure core: reservations, sealing, receipts), ``aggregator`` (the
untrusted fold) and ``machine`` (the committee's replicated machine). Decision D6.
"""
