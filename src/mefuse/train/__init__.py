"""Training, protocols, metrics and cross-validation on cached features."""
