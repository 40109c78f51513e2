"""Organisms built on the coalition framework (layer 4 of ARCHITECTURE.md).

* `feed` — a standalone organism: an ordered, ticketed stream of events;
* `correlator` — a composite organism aligning spanned members on Almanac ticks.
"""
