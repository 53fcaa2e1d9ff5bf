import ast
import subprocess
import sys


def loaded_after(imports: str, watched: tuple[str, ...]) -> list[str]:
    """Which of ``watched`` are in ``sys.modules`` after ``import <imports>`` in a fresh interpreter."""
    code = f"import sys, {imports}; print(sorted(m for m in {watched!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return ast.literal_eval(out.strip())


def test_import_is_light():
    assert loaded_after("justfit", ("torch", "transformers", "accelerate")) == []


def test_the_tasks_import_no_media_library_until_used():
    """Pillow, kornia, soundfile, soxr, audiomentations and librosa are imported by the image and audio
    code that uses them, never by ``import justfit`` or the task registry (they are extras)."""
    assert loaded_after("justfit, justfit.tasks, justfit.models, justfit.data.packaged",
                        ("PIL", "kornia", "soundfile", "soxr", "audiomentations", "librosa", "imagehash")) == []


def test_public_surface():
    import justfit

    for name in ("Finetuner", "finetune", "load", "RunResult", "JustfitConfig", "list_presets"):
        assert getattr(justfit, name) is not None
    assert "minilm" in justfit.list_presets()


def test_history_does_not_import_results():
    # The run directory's files are written by justfit._files; the training history needs nothing else.
    assert loaded_after("justfit.history", ("justfit.results",)) == []


def test_explanations_and_the_cli_start_without_torch():
    """The diagnosis and the report read plain records (a run folder, another tool's log), and the CLI's
    `--help` and config checks need no model: none of them imports torch, transformers or pandas, so `justfit
    doctor` and `justfit report` start fast and work where no model could run."""
    assert loaded_after("justfit.config, justfit.diagnosis, justfit.diagnosis.history_io, justfit.report, "
                        "justfit.results, justfit.history, justfit.cli.main", ("torch", "transformers", "pandas")) == []


def test_the_cli_entry_imports_no_config_model():
    """`justfit --help` and a typo in a command name answer before pydantic (and the config's models) load."""
    assert loaded_after("justfit.cli.main", ("pydantic", "justfit.config")) == []
