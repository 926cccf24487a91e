"""Heads swapped while a node runs: a ``head_path`` parameter settable at run time and a topic announcing heads.

The detector (obstacle head) and the segmenter (segmentation head) swap heads the same way: a new path, from
``ros2 param set`` or a trainer's announcement (std_msgs/String), is loaded in the executor thread; a head that
loads and fits goes to ``use`` (the worker thread picks it up at its next frame: one reference assignment, no
frame dropped), anything else is refused, logged and counted (``heads_refused``), and the old head stays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import String

from selfsup_perception.core.modelcard import ModelLoadError
from selfsup_perception.nodes.common import MODEL_QOS, Diagnostics

HeadT = TypeVar('HeadT')
COUNTERS = ('head_loads', 'heads_refused')


class HeadSwap(Generic[HeadT]):
    """Watches ``parameter`` (declared by the node, not read-only) and ``topic``; ``load`` turns a path into a
    head (raising for anything unusable), ``use`` installs it."""

    def __init__(self, node: Node, diagnostics: Diagnostics, load: Callable[[str], HeadT],
                 use: Callable[[HeadT], None], topic: str, parameter: str = 'head_path') -> None:
        self.node, self.diagnostics, self.load, self.use, self.parameter = node, diagnostics, load, use, parameter
        node.add_on_set_parameters_callback(self._on_parameters)
        node.create_subscription(String, topic, diagnostics.guarded(self._on_announced), MODEL_QOS)

    def _on_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        for parameter in parameters:
            if parameter.name != self.parameter:
                continue
            try:
                if not parameter.value:
                    raise ModelLoadError(f'{self.parameter}: empty; give the path of a head (.npz)')
                head = self.load(parameter.value)
            except Exception as exc:  # any failure (OSError, a bad card, ...) refuses the head, never the node
                reason = str(exc) if isinstance(exc, ModelLoadError) else f'cannot load head: {exc!r}'
                self.diagnostics.count('heads_refused')
                self.node.get_logger().error(f'head refused, keeping {self.diagnostics.values.get("head")}: {reason}')
                return SetParametersResult(successful=False, reason=reason)
            self.use(head)
            self.diagnostics.count('head_loads')
            self.diagnostics.values['head'] = parameter.value
            self.node.get_logger().info(f'head loaded: {parameter.value}')
        return SetParametersResult(successful=True)

    def _on_announced(self, msg: String) -> None:
        """A head announced on the topic: load it through the parameter (refusals are logged there)."""
        self.node.set_parameters([Parameter(self.parameter, Parameter.Type.STRING, msg.data)])
