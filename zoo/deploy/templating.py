"""Jinja templates with user overrides and errors that name the template file and line.

Deploy files and documentation pages are both laid out by templates that hold no logic
(docs/design.md, idea 7). Templates come from a user folder first (`--templates DIR` or
`$ZOO_TEMPLATES`, same relative paths), then the package's `zoo/templates/`. Undefined
variables are errors (StrictUndefined) reported with the template's file, line and the
variable's name, including a misspelt field of a group (`resize.widht`), with the closest
known names.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from zoo.errors import RenderError

BUILTIN_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
TEMPLATES_ENV = "ZOO_TEMPLATES"


def load_template(env: jinja2.Environment, name: str) -> jinja2.Template:
    try:
        return env.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"{exc.filename or exc.name}:{exc.lineno}: template syntax error: {exc.message}") from None
    except jinja2.TemplateNotFound:
        raise RenderError(f"template {name} not found in {BUILTIN_TEMPLATES} or the user folder") from None


_UNDEFINED = re.compile(r"'(?P<name>[^']+)' is undefined|'(?P<owner>[\w.]+) object' has no attribute '(?P<attr>[^']+)'")


def render_template(template: jinja2.Template, variables: dict[str, Any]) -> str:
    """Render, turning a template's mistake into an error naming its file and line (and variable)."""
    try:
        return template.render(variables)
    except jinja2.UndefinedError as exc:
        raise RenderError(f"{template_position(exc, template)}: {_undefined(str(exc), variables)}") from None
    except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise RenderError(f"{template_position(exc, template)}: template error: {exc}") from None


def _undefined(message: str, variables: dict[str, Any]) -> str:
    """`undefined variable NAME`, the closest known names and the names known where it was looked up."""
    match = _UNDEFINED.search(message)
    if match is None:
        name, known = message, sorted(variables)
    elif match.group("name"):
        name, known = match.group("name"), sorted(variables)
    else:
        owner = next((k for k, v in variables.items() if _type_name(v) == match.group("owner")), None)
        name = f"{owner}.{match.group('attr')}" if owner else match.group("attr")
        known = [f"{owner}.{field}" for field in _fields(variables[owner])] if owner else sorted(variables)
    close = _close(name, variables)
    hint = f"; did you mean {', '.join(f'`{c}`' for c in close)}?" if close else ""
    return f"undefined variable `{name}`{hint} (known: {', '.join(known)})"


def _close(name: str, variables: dict[str, Any]) -> list[str]:
    """Known names like `name`: variables, and fields of groups (`resize.width` for `resize_width` or `width`)."""
    dotted = [f"{group}.{field}" for group in variables for field in _fields(variables[group])]
    close = difflib.get_close_matches(name, [*variables, *dotted], n=3)
    bare = name.rpartition(".")[2]
    close += [d for d in dotted if d.rpartition(".")[2] == bare and d not in close]
    return close[:3]


def _type_name(value: Any) -> str:
    """How Jinja names the type of an object in its errors."""
    kind = type(value)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _fields(value: Any) -> list[str]:
    """The names a template can look up on a group of variables (none for plain values)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [f.name for f in dataclasses.fields(value)]
    if isinstance(value, dict):
        return [str(key) for key in value]
    return []


def template_position(exc: BaseException, template: jinja2.Template) -> str:
    """`file:line` of the innermost template frame (Jinja maps template lines onto the traceback)."""
    file, line = template.filename or template.name, 0
    frame = exc.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_filename.endswith(".j2"):
            file, line = frame.tb_frame.f_code.co_filename, frame.tb_lineno
        frame = frame.tb_next
    return f"{file}:{line}"


def resolve_templates_dir(given: Path | None) -> str | None:
    folder = given if given is not None else os.environ.get(TEMPLATES_ENV) or None
    if folder is None:
        return None
    path = Path(folder)
    if not path.is_dir():
        origin = "--templates" if given is not None else f"${TEMPLATES_ENV}"
        raise RenderError(f"templates folder {path} ({origin}) does not exist")
    return str(path.resolve())


@lru_cache(maxsize=8)
def environment(user_dir: str | None) -> jinja2.Environment:
    """One environment per template folder, so compiled templates are reused across models."""
    loaders = [jinja2.FileSystemLoader(user_dir)] if user_dir else []
    loaders.append(jinja2.FileSystemLoader(str(BUILTIN_TEMPLATES)))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        finalize=literal,
    )


def literal(value: Any) -> Any:
    """How a context value prints: as a literal both JSON and YAML read back as the same value.

    Booleans `true`/`false`, None `null`, floats by `repr` (shortest round-trip digits) with a
    decimal point before any exponent (YAML 1.1 reads `1e-05` as a string), sequences in
    flow style. Strings print unchanged (templates quote them, or pipe them through `tojson`).
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float):
        text = repr(value)
        if "e" in text and "." not in text:
            text = text.replace("e", ".0e")
        return text
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(str(literal(v)) for v in value) + "]"
    return value
