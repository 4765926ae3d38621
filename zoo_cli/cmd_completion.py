"""`zoo completion SHELL`: the shell's completion script for `zoo` (commands, options, model ids)."""

from __future__ import annotations

import click

#: The environment variable click's completion protocol uses for the `zoo` program.
COMPLETE_VAR = "_ZOO_COMPLETE"


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the completion script: `eval "$(zoo completion bash)"` in ~/.bashrc (zsh: ~/.zshrc;
    fish: `zoo completion fish > ~/.config/fish/completions/zoo.fish`)."""
    from click.shell_completion import get_completion_class

    from zoo_cli.main import cli

    script_class = get_completion_class(shell)
    assert script_class is not None  # the choice above lists only shells click supports
    click.echo(script_class(cli, {}, "zoo", COMPLETE_VAR).source())
