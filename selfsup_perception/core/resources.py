"""Files the package ships (config/, models/): from the installed ament share, else the source tree."""

from __future__ import annotations

from pathlib import Path

PACKAGE = 'selfsup_perception'
SOURCE_ROOT = Path(__file__).resolve().parents[2]


def package_file(relative: str) -> Path:
    """``share/selfsup_perception/<relative>`` when installed with colcon, else ``<source tree>/<relative>``."""
    try:
        from ament_index_python.packages import get_package_share_directory

        installed = Path(get_package_share_directory(PACKAGE)) / relative
        if installed.exists():
            return installed
    except (ImportError, LookupError, ValueError, OSError):  # not installed, or no ament environment
        pass
    return SOURCE_ROOT / relative


def robot_config() -> Path:
    """The shipped config/robot.yaml."""
    return package_file('config/robot.yaml')


def sim_classes() -> Path:
    """The shipped class list of the simulator's segmentation (floor, obstacle, wall)."""
    return package_file('config/classes_sim.yaml')
