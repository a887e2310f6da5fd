"""Every subcommand takes --json, as the README says."""

from __future__ import annotations

import argparse

import pytest

from actlab.cli import build_parser


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_every_command_takes_json(name: str) -> None:
    options = {opt for a in _subcommands()[name]._actions for opt in a.option_strings}
    assert "--json" in options and "--help" in options
