"""The `zoo` command: parse arguments, call the library, print results.

Sub-commands live in their own modules and are imported only when invoked, so that
`zoo list` starts fast and never imports a heavy framework.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

from zoo import __version__

#: command name -> "module:attribute"; each module holds one area of the CLI.
COMMANDS: dict[str, str] = {
    "list": "zoo_cli.cmd_catalog:list_models",
    "show": "zoo_cli.cmd_catalog:show",
    "lint": "zoo_cli.cmd_catalog:lint",
    "schema": "zoo_cli.cmd_catalog:schema",
    "render": "zoo_cli.cmd_render:render",
    "docs": "zoo_cli.cmd_docs:docs",
    "sync": "zoo_cli.cmd_sync:sync",
    "plan": "zoo_cli.cmd_sync:plan",
    "store": "zoo_cli.cmd_store:store",
    "push": "zoo_cli.cmd_store:push",
    "pull": "zoo_cli.cmd_store:pull",
    "lock": "zoo_cli.cmd_fetch:lock",
    "fetch": "zoo_cli.cmd_fetch:fetch_weights",
    "eval": "zoo_cli.cmd_eval:evaluate",
    "bench": "zoo_cli.cmd_eval:bench",
    "calib": "zoo_cli.cmd_eval:calib",
    "npz": "zoo_cli.cmd_eval:npz",
    "check": "zoo_cli.cmd_import:check",
    "import": "zoo_cli.cmd_import:import_models",
    "diff": "zoo_cli.cmd_import:diff",
    "doctor": "zoo_cli.cmd_doctor:doctor",
    "completion": "zoo_cli.cmd_completion:completion",
    "measure": "zoo_cli.cmd_measure:measure",
    "install": "zoo_cli.cmd_doctor:install",
}


class LazyGroup(click.Group):
    """A click group that imports a sub-command's module only when it runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        from zoo_cli.console import with_verbosity

        module, attribute = target.split(":")
        return with_verbosity(getattr(importlib.import_module(module), attribute))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="zoo")
@click.option(
    "--manifests",
    "manifest_dirs",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Extra manifest folder (repeatable; also $ZOO_MANIFESTS).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, manifest_dirs: tuple[Path, ...], debug: bool) -> None:
    """zoo: a declarative model zoo. Manifests in, verified ONNX and deploy configs out."""
    ctx.obj = {"manifest_dirs": manifest_dirs, "debug": debug}


def _with_root_verbosity() -> None:
    """`zoo -q CMD` works as well as `zoo CMD -q`."""
    from zoo_cli.console import with_verbosity

    with_verbosity(cli)


_with_root_verbosity()


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user mistakes print a message and exit non-zero, no traceback."""
    from zoo.errors import ZooError
    from zoo_cli.console import guard_streams

    guard_streams()
    try:
        # Outside standalone mode click returns the code given to `ctx.exit(code)`.
        result = cli.main(args=argv, prog_name="zoo", standalone_mode=False)
        sys.exit(result if isinstance(result, int) else 0)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except BrokenPipeError:  # `zoo ... | head`: the reader left; nothing more to say
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except (ZooError, OSError) as exc:  # a user mistake, or the file system said no
        if "--debug" in (argv if argv is not None else sys.argv):
            raise
        from zoo_cli.console import error

        error(_describe(exc))
        sys.exit(exc.exit_code if isinstance(exc, ZooError) else 1)


def _describe(exc: Exception) -> str:
    """A ZooError says what and where itself; an OSError gets its path and a hint."""
    if not isinstance(exc, OSError):
        return str(exc)
    where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f)
    return (f"{exc.strerror or exc}{f': {where}' if where else ''} "
            "(check the path and its permissions; --debug shows where it happened)")
