"""The verb table and the layer rule for argparse: every verb is a module of ``cli/``, and no module
outside ``cli/`` imports argparse (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

from selfsup_perception.cli import VERBS

PACKAGE = Path(__file__).resolve().parents[2] / 'selfsup_perception'


def test_every_verb_is_a_cli_module() -> None:
    for verb, (module, _) in VERBS.items():
        assert (PACKAGE / 'cli' / f'{module}.py').is_file(), verb


def test_argparse_only_in_cli() -> None:
    importers = []
    for path in sorted(PACKAGE.rglob('*.py')):
        if path.parent.name == 'cli':
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ''] if isinstance(node, ast.ImportFrom) else [])
            if any(name.split('.')[0] == 'argparse' for name in names):
                importers.append(str(path.relative_to(PACKAGE)))
    assert importers == []
