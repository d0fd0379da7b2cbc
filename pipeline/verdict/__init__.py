"""From evidence to a verdict: the Checker (orchestration), the verdict rules, the learned aggregator and
the opt-in rule packs."""
