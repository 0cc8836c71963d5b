"""Running management commands in tests, as STYLE.md asks: through call_command, with captured output, and a
refusal being a CommandError (exit status 1 from the command line)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


class Output:
    def __init__(self, stdout: str, stderr: str) -> None:
        self.stdout, self.stderr = stdout, stderr

    def json(self) -> Any:
        return json.loads(self.stdout)


def run(name: str, *args: str) -> Output:
    """Run a command that must succeed; returns what it wrote."""
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command(name, *args, stdout=stdout, stderr=stderr)
    return Output(stdout.getvalue(), stderr.getvalue())


def refused(name: str, *args: str) -> str:
    """Run a command that must refuse; returns its message."""
    with pytest.raises(CommandError) as caught:
        run(name, *args)
    return str(caught.value)
