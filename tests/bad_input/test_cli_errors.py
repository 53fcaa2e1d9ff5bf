"""Every way out of the CLI: internal errors, user errors, usage errors and Ctrl-C, through every command.

These tests load no model: each forces its error by replacing the library function a command calls.
They also run against the newest typer/click (``make drift``), so a change in typer's exception
classes shows up here.
"""

from __future__ import annotations

import re
import subprocess
import sys
import types
from pathlib import Path

import pandas as pd
import pytest

from justfit.cli import main as cli
from justfit.cli.main import app, main
from justfit.errors import ConfigError, DataError, JustfitError

SRC = Path(__file__).resolve().parents[2] / "src" / "justfit"


def _data(tmp: Path) -> str:
    p = tmp / "d.csv"
    pd.DataFrame({"text": [f"text number {i}" for i in range(20)], "label": ["a", "b"] * 10}).to_csv(p, index=False)
    return str(p)


def _history(tmp: Path) -> str:
    p = tmp / "history.csv"
    p.write_text("epoch,train_loss,val_loss\n1,0.7,0.8\n2,0.5,0.7\n")
    return str(p)


def _finished_run(tmp: Path) -> str:
    run = tmp / "run"
    (run / "model").mkdir(parents=True)
    (run / "model" / "config.json").write_text("{}")
    (run / "history.jsonl").write_text('{"epoch": 1, "train_loss": 0.5, "val_loss": 0.6}\n')
    (run / "result.json").write_text("{}")
    return str(run)


def _boom(*args, **kwargs):
    raise RuntimeError("boom")


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


# command -> (the library function it calls, argv after the command name, built in tmp_path)
ENTRIES = {
    "train": ("justfit.run.finetune",
              lambda t: ["--data", _data(t), "-o", str(t / "runs"), "--name", "x", "-q"]),
    "clean": ("justfit.data.stage.clean_file", lambda t: [_data(t), "-o", str(t / "c.csv"), "-q"]),
    "doctor": ("justfit.diagnosis.diagnose_run", lambda t: [_history(t)]),
    "check": ("justfit.training.probe.sanity_check", lambda t: ["--data", _data(t)]),
    "report": ("justfit.report.render_report", lambda t: [_finished_run(t)]),
    "evaluate": ("justfit.data.io.load_table", lambda t: [_finished_run(t), "--data", _data(t), "-q"]),
    "predict": ("justfit.estimator.Finetuner.load", lambda t: [_finished_run(t), "--text", "hello", "-q"]),
    "lr-find": ("justfit.run.find_lr", lambda t: ["--data", _data(t), "--out", str(t / "lr"), "-q"]),
    "recipes": ("justfit.models.recipes.list_recipes", lambda t: []),
    "cache": ("justfit.tasks.text.frozen.cache_info", lambda t: ["--cache-dir", str(t / "cache")]),
    "presets": ("justfit.models.factory.list_presets", lambda t: []),
    "tasks": ("justfit.tasks.builtin.list_tasks", lambda t: []),
    "export": ("justfit.export.export_onnx", lambda t: [_finished_run(t)]),
    "tune": ("justfit.tuning.tune.tune", lambda t: ["--data", _data(t), "-o", str(t / "runs"), "--name", "x", "-q"]),
}


def _registered() -> set[str]:
    return {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands}


def test_the_table_covers_every_command():
    assert _registered() == set(ENTRIES), "add the new command to ENTRIES (and to tests/bad_input/test_catalogue.py)"


def _err_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


@pytest.mark.parametrize("command", sorted(ENTRIES))
def test_internal_error_is_one_line_with_a_traceback_file(command, tmp_path, monkeypatch, capsys):
    target, argv = ENTRIES[command]
    monkeypatch.setattr(target, _boom)
    logs = tmp_path / "logs"
    monkeypatch.setenv("JUSTFIT_LOG_DIR", str(logs))
    monkeypatch.delenv("JUSTFIT_DEBUG", raising=False)
    rc = main([command, *argv(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 1, err
    lines = _err_lines(err)
    assert len(lines) == 1, err
    assert "Traceback" not in err
    m = re.fullmatch(r"internal error: RuntimeError: boom \(full traceback: (.+?); rerun with --debug to print it\)",
                     lines[0])
    assert m, lines[0]
    saved = Path(m.group(1))
    assert saved.parent == logs and saved.name.startswith("justfit-traceback-")
    text = saved.read_text()
    assert "boom" in text and "Traceback" in text and "RuntimeError" in text


@pytest.mark.parametrize("command", sorted(ENTRIES))
def test_ctrl_c_in_any_command_prints_interrupted(command, tmp_path, monkeypatch, capsys):
    target, argv = ENTRIES[command]
    monkeypatch.setattr(target, _interrupt)
    rc = main([command, *argv(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 130
    assert _err_lines(err) == ["interrupted"]


@pytest.mark.parametrize("command", ["train", "doctor", "presets"])
def test_user_error_from_the_library_is_one_error_line(command, tmp_path, monkeypatch, capsys):
    target, argv = ENTRIES[command]

    def fail(*args, **kwargs):
        raise DataError("the data is wrong\nsecond line")

    monkeypatch.setattr(target, fail)
    rc = main([command, *argv(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2
    assert _err_lines(err) == ["error: the data is wrong"]


@pytest.mark.parametrize("flag", ["option", "env"])
def test_debug_prints_the_traceback_instead(flag, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("justfit.models.factory.list_presets", _boom)
    monkeypatch.setenv("JUSTFIT_LOG_DIR", str(tmp_path / "logs"))
    if flag == "env":
        monkeypatch.setenv("JUSTFIT_DEBUG", "1")
        argv = ["presets"]
    else:
        monkeypatch.delenv("JUSTFIT_DEBUG", raising=False)
        argv = ["--debug", "presets"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "RuntimeError: boom" in err
    assert err.rstrip().splitlines()[-1] == "internal error: RuntimeError: boom"
    assert not (tmp_path / "logs").exists()


def test_debug_does_not_leak_into_the_next_call(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("justfit.models.factory.list_presets", _boom)
    monkeypatch.setenv("JUSTFIT_LOG_DIR", str(tmp_path))
    monkeypatch.delenv("JUSTFIT_DEBUG", raising=False)
    assert main(["--debug", "presets"]) == 1
    capsys.readouterr()
    assert main(["presets"]) == 1
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("argv,needle", [
    (["train", "--bogus"], "No such option: --bogus"),
    (["train", "--epochs", "many"], "--epochs"),
    (["evaluate"], "Missing argument"),
    (["no-such-command"], "No such command"),
])
def test_usage_errors_are_one_line_exit_2(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = _err_lines(err)
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err


def test_help_and_no_arguments(capsys):
    assert main(["--help"]) == 0
    assert "train" in capsys.readouterr().out
    assert main([]) in (0, 2)  # the help text: click 8.2+ exits 2 for a group called without a command, 8.1 exits 0
    captured = capsys.readouterr()
    assert "train" in captured.out + captured.err and "Traceback" not in captured.err


def test_handler_survives_typer_and_click_without_the_expected_classes(tmp_path, monkeypatch, capsys):
    """The crash this guards against: ``typer._click.exceptions`` without ``Exit`` (typer >= 0.29)."""
    for name in ("typer._click", "typer._click.exceptions", "click", "click.exceptions", "typer.exceptions"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setattr("justfit.models.factory.list_presets", _boom)
    monkeypatch.setenv("JUSTFIT_LOG_DIR", str(tmp_path))
    monkeypatch.delenv("JUSTFIT_DEBUG", raising=False)
    assert cli._handle(RuntimeError("boom")) == 1
    assert cli._handle(DataError("bad")) == 2
    assert cli._handle(KeyboardInterrupt()) == 130
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: boom" in err and "error: bad" in err and "interrupted" in err


def test_exception_classes_are_found_in_this_typer():
    assert cli._exception_classes("ClickException")
    assert cli._exception_classes("Exit")


def test_unsaveable_traceback_still_one_line(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("JUSTFIT_LOG_DIR", str(blocker / "sub"))  # a folder inside a file: cannot be made
    monkeypatch.delenv("JUSTFIT_DEBUG", raising=False)
    monkeypatch.setattr("justfit.models.factory.list_presets", _boom)
    assert main(["presets"]) == 1
    lines = _err_lines(capsys.readouterr().err)
    assert len(lines) == 1 and "could not be saved" in lines[0] and "--debug" in lines[0]


# --- lr_find's argument checks are user errors, not ValueErrors from deep inside -------------------------------------

@pytest.mark.parametrize("kwargs,needle", [
    ({"steps": 1, "start_lr": 1e-7, "end_lr": 10.0}, "--steps"),
    ({"steps": 0, "start_lr": 1e-7, "end_lr": 10.0}, "--steps"),
    ({"steps": 10, "start_lr": 1.0, "end_lr": 1e-3}, "swapped"),
    ({"steps": 10, "start_lr": 0.0, "end_lr": 1.0}, "--start-lr"),
    ({"steps": 10, "start_lr": 1e-5, "end_lr": float("inf")}, "--end-lr"),
    ({"steps": 10, "start_lr": 1e-3, "end_lr": 1e-3}, "start_lr < end_lr"),
])
def test_sweep_settings_raise_config_error(kwargs, needle):
    from justfit.training.lr_find import check_sweep

    with pytest.raises(ConfigError, match=re.escape(needle)):
        check_sweep(**kwargs)


def test_suggest_rejects_bad_input_as_config_error():
    from justfit.training.lr_find import suggest

    with pytest.raises(ConfigError):
        suggest([1e-3, 1e-2], [0.5])
    with pytest.raises(ConfigError):
        suggest([1e-3], [0.5], beta=1.0)


@pytest.mark.parametrize("extra,needle", [
    (["--steps", "1"], "--steps"),
    (["--steps", "0"], "--steps"),
    (["--start-lr", "1", "--end-lr", "1e-3"], "swapped"),
    (["--start-lr", "0"], "--start-lr"),
])
def test_lr_find_cli_checks_before_the_sweep(extra, needle, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("justfit.run.find_lr", _boom)  # reaching the sweep would be an internal error
    rc = main(["lr-find", "--data", _data(tmp_path), "--out", str(tmp_path / "lr"), *extra])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and len(_err_lines(err)) == 1, err
    assert not (tmp_path / "lr").exists()


def test_no_assert_statements_in_the_package():
    """``assert`` vanishes under ``python -O`` and raises a bare AssertionError otherwise: checks raise JustfitError."""
    offenders = [f"{p.relative_to(SRC)}:{i}" for p in SRC.rglob("*.py")
                 for i, line in enumerate(p.read_text().splitlines(), 1) if re.match(r"\s*assert\s", line)]
    assert offenders == []


def test_every_error_class_is_a_justfit_error():
    import justfit.errors as errors

    for name in ("ConfigError", "DataError", "ModelError", "RunDirError", "MissingDependencyError"):
        cls = getattr(errors, name)
        assert issubclass(cls, JustfitError) and cls.exit_code == 2


def test_entry_point_prints_one_line_for_an_internal_error(tmp_path):
    """The real process: the console script's ``sys.exit(main())`` path, with a ValueError from the library."""
    code = ("import sys, justfit.models.factory as f\n"
            "def bad(): raise ValueError('planted failure')\n"
            "f.list_presets = bad\n"
            "from justfit.cli.main import main\n"
            "sys.exit(main(['presets']))\n")
    env = {**__import__("os").environ, "JUSTFIT_LOG_DIR": str(tmp_path)}
    env.pop("JUSTFIT_DEBUG", None)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 1
    assert r.stderr.startswith("internal error: ValueError: planted failure (full traceback: ")
    assert len(_err_lines(r.stderr)) == 1 and "Traceback" not in r.stderr
    assert any("planted failure" in p.read_text() for p in tmp_path.glob("justfit-traceback-*.txt"))
