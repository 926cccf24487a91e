"""package.xml declares what the code imports: every import of the package and its launch files is a
rosdep key in ``exec_depend``, or listed below as optional with the reason it is not one."""

from __future__ import annotations

import ast
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# import root -> rosdep key
ROSDEP = {
    'numpy': 'python3-numpy', 'cv2': 'python3-opencv', 'yaml': 'python3-yaml', 'tqdm': 'python3-tqdm',
    'matplotlib': 'python3-matplotlib', 'rosbags': 'python3-rosbags-pip', 'mujoco': 'python3-mujoco-pip',
    'skimage': 'python3-skimage',
}
ROS_PACKAGES = {'rclpy', 'sensor_msgs', 'nav_msgs', 'std_msgs', 'std_srvs', 'diagnostic_msgs', 'rosgraph_msgs',
                'builtin_interfaces', 'geometry_msgs', 'rcl_interfaces', 'ament_index_python', 'launch',
                'launch_ros'}
# Not exec_depends, on purpose (each import is guarded and fails with a message saying what to install).
OPTIONAL = {
    'keras': 'model building on a workstation (pip install .[build])', 'tensorflow': 'model building',
    'tf2onnx': 'model building', 'onnx': 'model building', 'PIL': 'model building (masks)',
    'pycocotools': 'model building (COCO)',
    'ai_edge_litert': 'an inference runtime, chosen per robot; no rosdep key',
    'tflite_runtime': 'an inference runtime, chosen per robot; no rosdep key',
    'onnxruntime': 'an inference runtime, chosen per robot (Jetson: the vendor build)',
    'pycoral': 'Coral machines only, from Coral\'s own repository',
}


def _imports(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split('.')[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split('.')[0])
        elif isinstance(node, ast.Call) and getattr(node.func, 'attr', None) == 'import_module' and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                roots.add(first.value.split('.')[0])
    return roots


def _message_packages() -> set[str]:
    """The ROS message packages ``rosio.messages.rclpy_kit`` imports by name."""
    from selfsup_perception.rosio.messages import MESSAGE_TYPES

    return {name.split('/')[0] for name in MESSAGE_TYPES}


def test_every_import_is_an_exec_depend_or_optional():
    declared = {e.text for e in ET.parse(ROOT / 'package.xml').getroot().iter('exec_depend')}
    files = [*(ROOT / 'selfsup_perception').rglob('*.py'), *(ROOT / 'launch').glob('*.launch.py')]
    used = set().union(*map(_imports, files), _message_packages())
    third_party = used - set(sys.stdlib_module_names) - {'selfsup_perception', '__future__'}
    unknown = third_party - set(ROSDEP) - ROS_PACKAGES - set(OPTIONAL)
    assert not unknown, f'imports without a rosdep key or a reason: {sorted(unknown)}'
    needed = {ROSDEP.get(root, root) for root in third_party if root not in OPTIONAL}
    assert needed <= declared, f'package.xml lacks exec_depend {sorted(needed - declared)}'
