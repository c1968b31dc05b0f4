"""Subcommands of ``mcore-lint`` (``rules``, ``explain``, later ``api``, ``supported-range``).

Adding one is a self-contained change: create ``lint/commands/<name>.py`` (``-`` in the
command word becomes ``_`` in the module name: ``supported_range.py`` for
``supported-range``) defining a ``click.Command`` (or ``click.Group``) named ``command``.
The CLI lists the modules here without importing them and imports only the one invoked, so a
subcommand costs nothing when it is not used. A subcommand word wins over a path of the same
name when it is the first argument; write ``./name`` for a folder called ``name``.
"""

from __future__ import annotations

import importlib
import pkgutil

import click


def available() -> set[str]:
    """Command words of every module in this package."""
    return {m.name.replace("_", "-") for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")}


def load(word: str) -> click.Command:
    module = importlib.import_module(f"{__name__}.{word.replace('-', '_')}")
    cmd = getattr(module, "command", None)
    if not isinstance(cmd, click.Command):
        raise RuntimeError(f"{module.__name__} defines no click command named `command`")
    return cmd
