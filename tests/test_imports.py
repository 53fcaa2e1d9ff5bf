import subprocess
import sys


def test_import_is_light():
    code = "import sys, justfit; print(any(m in sys.modules for m in ('torch', 'transformers', 'accelerate')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_public_surface():
    import justfit

    for name in ("Finetuner", "finetune", "load", "RunResult", "JustfitConfig", "list_presets"):
        assert getattr(justfit, name) is not None
    assert "minilm" in justfit.list_presets()
