"""The common base of errors about input a user can fix (a file, a value): the CLI shows them in one line."""

from __future__ import annotations


class InputError(Exception):
    """Bad input: a missing or malformed file, a value out of range. The message names the input."""
