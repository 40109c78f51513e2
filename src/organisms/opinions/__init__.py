"""Committee opinions (agent shape 3): members observe, a declared rule commits the outcome.

Heterogeneous members (different models, different operators) each submit a signed observation
on a question; the machine applies the organism's declared rule and commits the outcome with
its dissent, so a reader sees both what the committee concluded and who disagreed. ``machine``
holds the rule and the committed outcomes; the worked example is a price oracle's median.
"""
