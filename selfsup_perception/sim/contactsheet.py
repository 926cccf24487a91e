"""A contact sheet of simulated worlds: each world's first camera frame with a one-line description.

``python -m selfsup_perception.sim.contactsheet docs/sim_worlds.png`` renders the first 12 training and the
first 12 benchmark worlds side by side (training on the left half, benchmark on the right), so a person can
check what the appearance suite draws. Needs an OpenGL context (headless EGL by default).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from selfsup_perception.core.config import LabelingConfig, load_config
from selfsup_perception.resources import robot_config
from selfsup_perception.sim.describe import describe_arena
from selfsup_perception.sim.params import SimParams
from selfsup_perception.sim.seeds import BENCHMARK, TRAINING
from selfsup_perception.sim.simulation import Simulation

#: Height (px) of the caption band under each frame.
CAPTION = 26
_FONT = cv2.FONT_HERSHEY_PLAIN


def first_frame(seed: int, config: LabelingConfig) -> tuple[np.ndarray, list[str]]:
    """World ``seed``'s first camera frame (default camera without image noise, which only makes the PNG big)
    and two caption lines: seed, room (S/M/L), clutter, light; floor/wall kinds (P: a photograph).
    """
    with Simulation(SimParams(seed=seed, camera_noise=0.0), config) as simulation:
        frame = simulation.step().camera
        if frame is None:
            raise RuntimeError(f'seed {seed}: the first step brought no camera frame')
        words = describe_arena(simulation.arena)
    surfaces = f'{words["floor"]}/{words["wall"]}'.replace('photo_', 'P:')
    light = f'{words["light"]}' + ('' if words['light_colour'] == 'white' else f' {words["light_colour"]}')
    room = str(words['room'])[0].upper()
    return frame.image, [f'{seed} {room} {words["clutter"]} {light}', surfaces]


def contact_sheet(tiles: Sequence[tuple[np.ndarray, list[str]]], columns: int) -> np.ndarray:
    """Frames (all the same size) with their captions underneath, in a grid ``columns`` wide (RGB uint8)."""
    if not tiles:
        raise ValueError('tiles: need at least one frame')
    height, width = tiles[0][0].shape[:2]
    rows = -(-len(tiles) // columns)
    sheet = np.full((rows * (height + CAPTION), columns * width, 3), 255, np.uint8)
    for index, (image, lines) in enumerate(tiles):
        top, left = (index // columns) * (height + CAPTION), (index % columns) * width
        sheet[top : top + height, left : left + width] = image
        for line_number, line in enumerate(lines):
            origin = (left + 3, top + height + 11 + 12 * line_number)
            cv2.putText(sheet, line[: width // 7], origin, _FONT, 0.8, (0, 0, 0), 1, cv2.LINE_AA)
    return sheet


def write_contact_sheet(path: Path, count: int = 12, config: LabelingConfig | None = None) -> Path:
    """Write a PNG of the first ``count`` training and benchmark worlds, training on the left half."""
    config = config or load_config(robot_config())
    training = [first_frame(seed, config) for seed in TRAINING.first(count)]
    benchmark = [first_frame(seed, config) for seed in BENCHMARK.first(count)]
    half = 3
    tiles = []
    for row in range(-(-count // half)):
        tiles += training[row * half : (row + 1) * half] + benchmark[row * half : (row + 1) * half]
    sheet = contact_sheet(tiles, 2 * half)
    sheet[:, sheet.shape[1] // 2 - 1 : sheet.shape[1] // 2 + 1] = (200, 0, 0)
    # 6 bits per channel (invisible here) halve the PNG.
    bgr = cv2.cvtColor(sheet & 0xFC, cv2.COLOR_RGB2BGR)
    ok, png = cv2.imencode('.png', bgr, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError(f'could not encode the contact sheet for {path}')
    partial = path.with_name(f'.{path.name}.partial')
    partial.write_bytes(png.tobytes())
    partial.replace(path)
    return path


if __name__ == '__main__':
    print(write_contact_sheet(Path(sys.argv[1] if len(sys.argv) > 1 else 'docs/sim_worlds.png')))
