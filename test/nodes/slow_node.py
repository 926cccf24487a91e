"""Runs one node as its console script does, with one step made slow: what the Ctrl-C tests interrupt.

``python slow_node.py NODE --ros-args ...``: the detector gets a frame whose embedding takes 3 s, the
trainer a dataset step of 4 s, the labeler five pending frames that take 1 s each to store. Each slow
step prints a line first, so the test knows when to press Ctrl-C.
"""

from __future__ import annotations

import sys
import time

import numpy as np


def slowly(function, marker: str, seconds: float):
    def slow(*args, **kwargs):
        print(marker, flush=True)
        time.sleep(seconds)
        return function(*args, **kwargs)
    return slow


def main(name: str) -> int:
    if name == 'obstacle_detector':
        from sensor_msgs.msg import Image

        from selfsup_perception.nodes import obstacle_detector as module

        init = module.ObstacleDetectorNode.__init__

        def init_with_a_frame(self, **kwargs):
            init(self, **kwargs)
            self.embedder.run = slowly(self.embedder.run, 'frame started', 3.0)
            self._worker.put(Image(height=24, width=40, encoding='rgb8', step=120, data=bytes(24 * 120)))

        module.ObstacleDetectorNode.__init__ = init_with_a_frame
    elif name == 'trainer':
        from selfsup_perception.nodes import trainer as module

        module.update_embeddings = slowly(module.update_embeddings, 'step started', 4.0)
    else:
        from selfsup_perception.core.dataset import DatasetWriter
        from selfsup_perception.nodes import labeler as module

        DatasetWriter.append = slowly(DatasetWriter.append, 'storing', 1.0)
        init = module.LabelerNode.__init__

        def init_with_frames(self, **kwargs):
            init(self, **kwargs)
            for i in range(5):
                self.labeler.add_frame(float(i), np.zeros((8, 8, 3), np.uint8))

        module.LabelerNode.__init__ = init_with_frames
    return module.main()


if __name__ == '__main__':
    raise SystemExit(main(sys.argv[1]))
