"""Jinja templates with user overrides and errors that name the template file and line.

Deploy files and documentation pages are both laid out by templates that hold no logic
(DESIGN.md, decision 7). Templates come from a user folder first (`--templates DIR` or
`$ZOO_TEMPLATES`, same relative paths), then the package's `zoo/templates/`. Undefined
variables are errors (StrictUndefined) reported with the template's file, line and the
variable's name.
"""

from __future__ import annotations

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


_UNDEFINED = re.compile(r"'(?P<name>[^']+)' is undefined|has no attribute '(?P<attr>[^']+)'")


def render_template(template: jinja2.Template, variables: dict[str, Any]) -> str:
    """Render, turning a template's mistake into an error naming its file and line (and variable)."""
    try:
        return template.render(variables)
    except jinja2.UndefinedError as exc:
        where = template_position(exc, template)
        match = _UNDEFINED.search(str(exc))
        name = (match.group("name") or match.group("attr")) if match else str(exc)
        close = difflib.get_close_matches(name, list(variables), n=3)
        hint = f"; did you mean {', '.join(f'`{c}`' for c in close)}?" if close else ""
        raise RenderError(f"{where}: undefined variable `{name}`{hint} "
                          f"(known: {', '.join(sorted(variables))})") from None
    except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise RenderError(f"{template_position(exc, template)}: template error: {exc}") from None


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
