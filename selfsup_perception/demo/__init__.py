"""The closed-loop demo: the nodes as processes on the embedded simulator, then evaluation and a report.

An application over the other layers, as the CLI is: it starts the nodes by module name (``nodes.NODES``)
and calls ``pipeline`` functions for training and evaluation.
"""
