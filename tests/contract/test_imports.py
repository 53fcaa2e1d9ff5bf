import subprocess
import sys


def test_import_is_light():
    code = "import sys, justfit; print(any(m in sys.modules for m in ('torch', 'transformers', 'accelerate')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_tasks_import_no_media_library_until_used():
    """Pillow, kornia, soundfile, soxr, audiomentations and librosa are imported by the image and audio
    code that uses them, never by ``import justfit`` or the task registry (they are extras)."""
    code = ("import sys, justfit, justfit.tasks, justfit.models, justfit.data.packaged; "
            "print(sorted(m for m in ('PIL', 'kornia', 'soundfile', 'soxr', 'audiomentations', 'librosa', "
            "'imagehash') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_public_surface():
    import justfit

    for name in ("Finetuner", "finetune", "load", "RunResult", "JustfitConfig", "list_presets"):
        assert getattr(justfit, name) is not None
    assert "minilm" in justfit.list_presets()


def test_history_does_not_import_results():
    # The run directory's files are written by justfit._files; the training history needs nothing else.
    code = ("import sys, justfit.history; "
            "print('justfit.results' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_explanations_and_the_cli_start_without_torch():
    """The diagnosis and the report read plain records (a run folder, another tool's log), and the CLI's
    `--help` and config checks need no model: none of them imports torch, transformers or pandas, so `justfit
    doctor` and `justfit report` start fast and work where no model could run."""
    code = ("import sys, justfit.config, justfit.diagnosis, justfit.diagnosis.history_io, justfit.report, "
            "justfit.results, justfit.history, justfit.cli.main; "
            "print(sorted(m for m in ('torch', 'transformers', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_cli_entry_imports_no_config_model():
    """`justfit --help` and a typo in a command name answer before pydantic (and the config's models) load."""
    code = "import sys, justfit.cli.main; print(sorted(m for m in ('pydantic', 'justfit.config') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
