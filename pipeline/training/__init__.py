"""Retraining on user data, validating labelled files, mining training pairs. High: uses the stages."""
