"""Experiments (the Compute chapter's 914–1134): a candidate runs on a short grant beside the
production agent, both are scored on the same outcomes over an Almanac window, and a sealed
``ExperimentReport`` decides; an adopted candidate becomes production through a rotation
marker naming it. ``machine`` holds the rule (scores are integers, D10) and the short-grant
check; ``shadow`` the opt-in reader of a candidate's stream; ``staging`` the staging committee
(E9: its own ticket class, refused by production validators) whose winner is published only
through its promoted production deployment."""
