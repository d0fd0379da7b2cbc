"""Is a sentence or post worth checking: sentence splitting, domain routing, the classifier, its data and
training."""
