"""Quality figures: model comparison, end-to-end corpus evaluation, claims and quotes evaluation."""
