"""ament_python package selfsup_perception (also installable with pip into a virtual environment)."""

import ast
from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = 'selfsup_perception'

# The node table lives in the package (the demo starts the same nodes); read it without importing the package.
_NODES_SOURCE = Path(__file__).with_name(PACKAGE) / 'nodes' / '__init__.py'
NODES: dict[str, str] = ast.literal_eval(
    next(node.value for node in ast.parse(_NODES_SOURCE.read_text()).body
         if isinstance(node, ast.AnnAssign) and getattr(node.target, 'id', '') == 'NODES'))

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    package_data={PACKAGE: ['py.typed']},
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        (f'share/{PACKAGE}/launch', glob('launch/*.launch.py')),
        (f'share/{PACKAGE}/config', glob('config/*.yaml')),
        (f'share/{PACKAGE}/models', glob('models/*.tflite') + glob('models/*.onnx') + glob('models/*.json')
         + glob('models/*.npz')),
        (f'share/{PACKAGE}/worlds', glob('worlds/*.sdf')),
    ],
    python_requires='>=3.10',
    install_requires=[
        'numpy>=1.24',
        'pyyaml>=6',
        'opencv-python-headless>=4.8',
        'rosbags>=0.11.9',
        'tqdm>=4.60',
        'matplotlib>=3.7',
    ],
    extras_require={
        # ROS 2 Jazzy from PyPI wheels, for a virtual environment without a ROS install.
        'ros': [
            'ros-jazzy-rclpy[fastrtps]', 'ros-jazzy-sensor-msgs', 'ros-jazzy-nav-msgs', 'ros-jazzy-std-msgs',
            'ros-jazzy-std-srvs', 'ros-jazzy-geometry-msgs', 'ros-jazzy-diagnostic-msgs',
            'ros-jazzy-rosgraph-msgs',
        ],
        'infer': ['ai-edge-litert>=2.3', 'onnxruntime>=1.18'],
        # scikit-image: its bundled photographs are the held-out textures of the benchmark worlds.
        'sim': ['mujoco>=4.0', 'scikit-image>=0.26'],
        # Workstation side: building, training and exporting models (never needed on the robot).
        'build': ['tensorflow-cpu>=2.21', 'keras>=3.15', 'tf2onnx>=1.17', 'onnx>=1.17', 'onnxruntime>=1.18',
                  'ai-edge-litert>=2.3', 'pillow>=10', 'pycocotools>=2.0'],
        'test': ['pytest>=8', 'pytest-timeout', 'hypothesis>=6.100', 'ruff', 'mypy>=1.10', 'types-PyYAML'],
    },
    zip_safe=True,
    maintainer='selfsup_perception developers',
    maintainer_email='selfsup-perception@example.org',
    description='Self-supervised long-range obstacle perception and FCN segmentation for small robots',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'selfsup = selfsup_perception.cli:main',
            *(f'{name} = {module}:main' for name, module in NODES.items()),
        ],
    },
)
