"""Run every benchmark on one core and write ``benchmarks/RESULTS.md`` (machine and date included).

Usage: ``python benchmarks/run.py [NAME ...]`` (names like ``labeler``; default all). Each
``bench_<name>.py`` prints its own markdown section; numbers are medians of repeated runs.
"""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def machine() -> str:
    cpu = next((line.split(':', 1)[1].strip() for line in Path('/proc/cpuinfo').read_text().splitlines()
                if line.startswith('model name')), platform.processor() or 'unknown CPU')
    memory = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30
    return (f'{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, {platform.system()} {platform.release()}, '
            f'Python {platform.python_version()}')


def main(names: list[str]) -> int:
    scripts = sorted(HERE.glob('bench_*.py'))
    if names:
        scripts = [s for s in scripts if s.stem.removeprefix('bench_') in names]
    pin = ['taskset', '-c', '0'] if shutil.which('taskset') else []
    sections = []
    for script in scripts:
        print(f'running {script.name} ...', flush=True)
        result = subprocess.run([*pin, sys.executable, str(script)], capture_output=True, text=True, check=False)
        if result.returncode:
            sections.append(f'## {script.stem}\n\nFAILED (exit {result.returncode}):\n\n```\n'
                            f'{result.stderr[-2000:]}\n```\n')
        else:
            sections.append(result.stdout.strip() + '\n')
        print(sections[-1])
    header = (f'# Benchmark results\n\nMachine: {machine()}. Date: {datetime.date.today().isoformat()}. '
              f'Pinned to one core with taskset. Produced by `make bench` (benchmarks/run.py).\n')
    (HERE / 'RESULTS.md').write_text(header + '\n' + '\n'.join(sections))
    return 0


if __name__ == '__main__':
    raise SystemExit(main(sys.argv[1:]))
