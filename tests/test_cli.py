"""The top-level console script: dispatch, help, errors, and the light-path promise."""

import json
import subprocess
import sys

import pytest

from anatomy_vlm.cli import main


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("kg", "data", "report", "quickstart"):
        assert command in out


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage:" in capsys.readouterr().out


@pytest.mark.parametrize(("group", "leaf"), [("kg", "resolve"), ("data", "phantom"), ("report", "parse")])
def test_group_without_subcommand_prints_its_help_and_exits_2(capsys, group, leaf):
    assert main([group]) == 2
    out = capsys.readouterr().out
    assert f"usage: anatomy-vlm {group}" in out and leaf in out


def test_unknown_command_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2


def test_user_error_is_one_line_without_traceback(capsys):
    assert main(["kg", "resolve", "zzqqxxyy"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("anatomy-vlm: error:")
    assert "\n" not in err and "Traceback" not in err


@pytest.mark.parametrize(("argv", "json_lines"), [
    (["kg", "info", "--json"], False),
    (["report", "parse", "No pneumothorax.", "--json"], True),
])
def test_light_commands_never_import_torch(argv, json_lines):
    code = (
        "import sys\n"
        "from anatomy_vlm.cli import main\n"
        f"rc = main({argv!r})\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    # machine-readable output: one document, or one JSON object per line
    documents = proc.stdout.splitlines() if json_lines else [proc.stdout]
    assert documents and all(json.loads(doc) for doc in documents)


@pytest.mark.parametrize("argv", [
    ["no-such-command"],
    ["data", "check"],
    ["data", "check", "mimic"],
    ["data", "check", "mimic", "root", "--limit", "many"],
    ["data", "phantom", "--n", "abc", "--out", "x"],
    ["kg", "resolve"],
    ["report", "parse", "text", "--no-such-flag"],
    ["--no-such-flag"],
])
def test_argument_errors_are_one_line_with_where_the_help_is(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == "" and "\n" not in err and "usage:" not in err
    assert err.startswith("anatomy-vlm") and ": error: " in err and "--help" in err


@pytest.mark.parametrize(("raised", "shown"), [
    (OSError(30, "Read-only file system", "/ro/out"), "Read-only file system"),
    (OSError(40, "Too many levels of symbolic links", "loop"), "symbolic links"),
    (RecursionError("maximum recursion depth exceeded"), "symlink loop"),
])
def test_os_and_recursion_errors_are_one_line_exit_2(capsys, monkeypatch, raised, shown):
    import anatomy_vlm.data.check as check

    def fail(*_args, **_kwargs):
        raise raised

    monkeypatch.setattr(check, "check_dataset", fail)
    assert main(["data", "check", "mimic", "anywhere"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("anatomy-vlm: error:") and shown in err and "\n" not in err and "Traceback" not in err
    with pytest.raises(type(raised)):  # --debug shows the traceback instead
        main(["--debug", "data", "check", "mimic", "anywhere"])
