"""Usage errors and the common options: before or after the command, "did you mean", exit 2,
JSON under ``--json``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from qlikauth.cli import build_parser, main
from qlikauth.cli._common import common_options
from qlikauth.cli._parser import merge_global_options


def _common_values() -> list[tuple[str, list[str]]]:
    """Every common option (from the parser) with a valid value: ``(dest, words)``."""
    values = []
    for action in common_options()._actions:
        option = action.option_strings[-1]
        if action.nargs == 0:
            values.append((action.dest, [option]))
        elif action.dest == "timeout":
            values.append((action.dest, [option, "7.5"]))
        else:
            values.append((action.dest, [option, f"value-of-{action.dest}"]))
    return values


def _parsed(words: list[str]) -> argparse.Namespace:
    args = build_parser().parse_args(words)
    merge_global_options(args, args.command_name)
    return args


@pytest.mark.parametrize(("dest", "words"), _common_values(), ids=lambda v: str(v))
def test_a_common_option_means_the_same_before_and_after_the_command(
    dest: str, words: list[str]
) -> None:
    before = _parsed([*words, "session", "list"])
    after = _parsed(["session", "list", *words])
    default = _parsed(["session", "list"])
    assert getattr(before, dest) == getattr(after, dest) != getattr(default, dest)
    assert vars(before) == vars(after)


def test_the_value_after_the_command_wins_and_verbosity_adds_up() -> None:
    args = _parsed(["--profile", "a", "-v", "whoami", "--profile", "b", "-v"])
    assert args.profile == "b"
    assert args.verbose == 2


def test_options_before_the_command_run_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[profiles.emu]\nserver = "qlik.example.com"\n', encoding="utf-8")
    assert main(["--config", str(config), "--json", "profile", "list"]) == 0
    before = json.loads(capsys.readouterr().out)
    assert main(["profile", "list", "--config", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == before
    assert "emu" in json.dumps(before)


def test_a_common_option_a_command_does_not_take_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--profile", "emu", "demo"]) == 2
    err = capsys.readouterr().err
    assert "--profile does not apply to 'demo'" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "suggestion"),
    [
        (["dcolist"], "did you mean 'doclist'?"),
        (["sesion", "list"], "did you mean 'session'?"),
        (["session", "lst"], "did you mean 'list'?"),
        (["headers", "--format", "jsno"], "did you mean 'json'?"),
    ],
)
def test_a_typo_names_the_nearest_choice(
    argv: list[str], suggestion: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert suggestion in capsys.readouterr().err


def test_an_unknown_command_far_from_any_lists_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'frobnicate'" in err
    assert "did you mean" not in err
    assert "doclist" in err


@pytest.mark.parametrize("value", ["0", "-1", "-0.5", "nan", "inf", "soon"])
@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
def test_a_timeout_not_above_zero_is_a_usage_error(
    value: str, before: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    option = [f"--timeout={value}"]
    argv = [*option, "whoami"] if before else ["whoami", *option]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "--timeout" in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_session_delete_without_a_selector_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["session", "delete"]) == 2
    assert "--user USER" in capsys.readouterr().err
    assert main(["session", "delete", "--json"]) == 2
    error = json.loads(capsys.readouterr().out)
    assert error["ok"] is False
    assert error["error"] == "UsageError"


def test_the_session_delete_hint_quotes_the_user_for_the_shell(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["session", "delete"]) == 2
    assert "--user 'CORP\\alice'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["dcolist", "--json"],
        ["--json", "whoami", "--timeout", "0"],
        ["whoami", "--json", "--no-such-option"],
        ["eval", "--json"],
    ],
)
def test_usage_errors_under_json_are_a_json_error_object(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    error = json.loads(captured.out)
    assert error["ok"] is False
    assert error["error"] == "UsageError"
    assert error["message"]
    assert error["hint"].endswith("--help shows every option.")
    assert captured.err == ""
