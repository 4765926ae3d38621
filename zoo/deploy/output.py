"""What a dialect module declares about its file: name rule, template, parser and spec.

A spec is the parsed structure a correct file has for one deploy context: mappings, lists
and exact values, with `AnyOf` leaves where a template may choose (site settings such as
`cluster_mode`). `zoo.deploy.render` parses every rendered text back with the dialect's
parser and compares it with the spec before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from zoo.deploy.context import DeployContext, Dialect
from zoo.errors import RenderError

try:  # the C parser is several times faster; fall back to pure Python
    from yaml import CSafeLoader as _YamlLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _YamlLoader  # type: ignore[assignment]


class AnyOf:
    """A spec leaf that accepts any value of the given types (site settings a template may change)."""

    def __init__(self, *types: type) -> None:
        self.types = types

    def __repr__(self) -> str:
        return " or ".join(t.__name__ for t in self.types)


ANY_STR, ANY_INT, ANY_BOOL = AnyOf(str), AnyOf(int), AnyOf(bool)

#: The errors a parser raises for text that is not its format.
PARSE_ERRORS: tuple[type[Exception], ...] = (yaml.YAMLError, json.JSONDecodeError)


def refuse_unwritable(c: DeployContext, dialect: Dialect, settings: list[str]) -> None:
    """Raise a `RenderError` when `dialect` has no known form for some of the model's `settings`.

    A dialect writes only values it has a published example or a documented code for; a
    guessed code would deploy something other than what the manifest says.
    """
    if settings:
        raise RenderError(
            f"{c.identity.model_id}: the {dialect.name} has no known form for {'; '.join(settings)}; "
            "change the manifest or use --profile build_in"
        )


def parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_YamlLoader)  # noqa: S506 - a safe loader


def parse_json(text: str) -> Any:
    return json.loads(text)


@dataclass(frozen=True)
class Output:
    """One generated file of a dialect: where it goes, how it is laid out, parsed and checked."""

    dialect: Dialect
    template: str  # relative to the templates folder
    path: str  # in the model folder; formatted with the model's `library`, `name` and `stem`
    parse: Callable[[str], Any]
    spec: Callable[[DeployContext], Any]
    lists_approximations: bool = False  # the file repeats the approximations as comments (checked)
    #: The command that reads the file, run from the model folder; formatted with `file` (its
    #: path) and `model` (the compiled model, `paths.compiled_model`). Empty: no tool of its own.
    command: str = ""

    def path_for(self, context: DeployContext) -> str:
        """This file's path in the model folder of `context`."""
        identity = context.identity
        return self.path.format(library=identity.library, name=identity.name, stem=identity.stem)

    def command_for(self, context: DeployContext) -> str | None:
        """The command that uses this file for `context`'s model, if a tool reads it directly."""
        if not self.command:
            return None
        return self.command.format(file=self.path_for(context), model=context.paths.compiled_model)
