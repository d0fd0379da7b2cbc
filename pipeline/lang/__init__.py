"""Language knowledge, kept apart from the code that uses it: word lists and cue patterns of a
language (what a denial, a report of a claim, a verb of saying or an intention looks like).
They know nothing of any topic; topic knowledge lives in opt-in rule packs (``pipeline.verdict.packs``).
"""
