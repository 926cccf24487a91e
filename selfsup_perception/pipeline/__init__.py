"""Use cases as typed functions (train and evaluate heads, evaluate segmentation, the demo, building the models).

CLIs, nodes, the demo and make-models call these and get results as values; nothing here parses argv.
"""
