"""Experiments (the Compute chapter's 914–1134): a candidate runs on a short grant beside the
production agent, both are scored on the same outcomes over an Almanac window, and a sealed
``ExperimentReport`` decides; an adopted candidate becomes production through a rotation
marker naming it. ``machine`` holds the rule; scores are integers (D10)."""
