"""Small pieces every ``quantdesk`` command module shares: registering a subcommand, argument
types and JSON output. No Qt and no core imports, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["Command", "add_command", "positive_int", "print_json"]

Command = Callable[[argparse.Namespace], int]


def add_command(sub: Any, name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
    """Register subcommand ``name`` on ``sub`` (an ``add_subparsers()`` result) to run ``func``.

    Returns its parser for the command's arguments; ``cli.main`` calls ``args.func(args)``.
    """
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
    parser.set_defaults(func=func)
    return parser


def positive_int(text: str) -> int:
    """An argparse ``type`` for counts that must be at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
