"""Shell completion scripts for `sagewire`, generated from its argument parser."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterator

_BASH = """\
# bash completion for sagewire, generated from its argument parser.
# Load it with: eval "$(sagewire completion bash)"
_sagewire() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" path="" word i
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${COMP_WORDS[i]}"
        case "$path/$word" in
%(transitions)s
        esac
    done
    local words=""
    case "$prev" in
%(choices)s
        *)
            case "$path" in
%(words)s
            esac
            ;;
    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _sagewire sagewire
"""

_ZSH = """\
#compdef sagewire
# zsh completion for sagewire: bash's, through zsh's bashcompinit.
# Load it with: eval "$(sagewire completion zsh)"
autoload -U +X bashcompinit && bashcompinit
"""


def _commands(
    parser: argparse.ArgumentParser, path: str = ""
) -> Iterator[tuple[str, list[str], list[argparse.Action]]]:
    """(path such as "/projects/get", its subcommands, its options) for every command."""
    subcommands: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            subcommands.update(action.choices)
    options = [action for action in parser._actions if action.option_strings]
    yield path, list(subcommands), options
    for name, subparser in subcommands.items():
        yield from _commands(subparser, f"{path}/{name}")


def _case(pattern: str, body: str, indent: str) -> str:
    """One arm of a `case`; shlex.quote("") is '', which bash reads as the empty string too."""
    return f"{indent}{shlex.quote(pattern)}) {body} ;;"


def bash(parser: argparse.ArgumentParser) -> str:
    """A bash script completing every command, option and option choice of `parser`."""
    commands = list(_commands(parser))
    transitions = [
        _case(f"{path}/{name}", f'path="$path/{name}"', " " * 12)
        for path, subcommands, _ in commands
        for name in subcommands
    ]
    words = [
        _case(
            path,
            f'words="{" ".join([*subcommands, *(s for o in options for s in o.option_strings)])}"',
            " " * 16,
        )
        for path, subcommands, options in commands
    ]
    choices = {
        option: " ".join(str(choice) for choice in action.choices)
        for _, _, actions in commands
        for action in actions
        if action.choices
        for option in action.option_strings
    }
    choice_cases = [
        _case(option, f'words="{values}"', " " * 8) for option, values in sorted(choices.items())
    ]
    return _BASH % {
        "transitions": "\n".join(transitions),
        "choices": "\n".join(choice_cases),
        "words": "\n".join(words),
    }


def zsh(parser: argparse.ArgumentParser) -> str:
    return _ZSH + bash(parser)
