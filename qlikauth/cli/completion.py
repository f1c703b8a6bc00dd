"""``qlikauth completion bash|zsh|fish``: shell completion for every command, option and
profile.

The script asks ``qlikauth completion words -- WORDS...`` for the candidates, so it follows
the installed version's commands and the configuration file's profile names::

    eval "$(qlikauth completion bash)"     # in ~/.bashrc
    eval "$(qlikauth completion zsh)"      # in ~/.zshrc
    qlikauth completion fish | source      # in ~/.config/fish/config.fish
"""

from __future__ import annotations

import argparse
import contextlib

from qlikauth.cli._common import EXIT_OK
from qlikauth.cli._context import load_config
from qlikauth.errors import ConfigurationError

__all__ = ["candidates", "register"]

_BASH = r"""# qlikauth shell completion
_qlikauth_complete() {
    local cur="${COMP_WORDS[COMP_CWORD]}"
    local words
    words=$(qlikauth completion words -- "${COMP_WORDS[@]:1:COMP_CWORD-1}" 2>/dev/null)
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _qlikauth_complete qlikauth
"""

_ZSH = "autoload -U +X bashcompinit && bashcompinit\n" + _BASH

# fish: the words before the cursor (without the command name) go to `completion words`;
# fish itself keeps the candidates that start with what is typed.
_FISH = r"""# qlikauth shell completion (fish)
function __qlikauth_complete
    set -l typed (commandline -opc)
    qlikauth completion words -- $typed[2..-1] 2>/dev/null
end
complete -c qlikauth -f -a '(__qlikauth_complete)'
"""

_SCRIPTS = {"bash": _BASH, "zsh": _ZSH, "fish": _FISH}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``qlikauth completion``."""
    parser = subparsers.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh or fish)",
        description='Print the completion script: eval "$(qlikauth completion bash)", '
        'eval "$(qlikauth completion zsh)", or qlikauth completion fish | source.',
    )
    parser.add_argument("shell", choices=(*_SCRIPTS, "words"), help="the shell")
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("words", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.set_defaults(handler=_completion)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def candidates(words: list[str], config: str | None = None) -> list[str]:
    """What may follow ``qlikauth WORDS...``: subcommands, options, or profile names."""
    from qlikauth.cli import build_parser

    if words and words[-1] == "--profile":
        with contextlib.suppress(ConfigurationError):
            return sorted(load_config(argparse.Namespace(config=config)).profiles)
        return []
    parser = build_parser()
    for word in words:
        parser = _subcommands(parser).get(word, parser)
    names = list(_subcommands(parser))
    options = [
        option
        for action in parser._actions
        if action.help != argparse.SUPPRESS
        for option in action.option_strings
    ]
    return names + options


def _completion(args: argparse.Namespace) -> int:
    if args.shell == "words":
        words = [w for w in args.words if w]
        if words and words[0] == "--":
            words = words[1:]
        print("\n".join(candidates(words, args.config)))
    else:
        print(_SCRIPTS[args.shell], end="")
    return EXIT_OK
