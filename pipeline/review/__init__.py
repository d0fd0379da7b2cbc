"""The review desk: a local web app over the corpus and the scored posts (``claimsift serve``).

``scores`` serves the queue from a scoring output, ``labels`` keeps the reviewers' labels apart
from the rebuildable store, ``security`` guards the app (host, token, cross-site writes) and
``app`` puts the pages together.
"""
