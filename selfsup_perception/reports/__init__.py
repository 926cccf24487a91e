"""Reports: plots (matplotlib) and markdown for head evaluations, segmentation evaluations and the demo."""
