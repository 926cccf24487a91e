"""What tests and benchmarks share: the per-frame reference oracle of the labeling rule and synthetic drives."""
