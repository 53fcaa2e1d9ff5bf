"""The task seam: code outside ``tasks/`` learns about a task only through its declared, defaulted hooks."""

import ast
import json
import re
from pathlib import Path

import pytest

from justfit.tasks.base import TASKS, BaseStep, BaseTask, StepTask, TaskKind, get_task

SRC = Path(__file__).resolve().parents[2] / "src" / "justfit"


def _probes(tree: ast.AST) -> list[tuple[int, str]]:
    """``getattr``/``hasattr`` calls whose object is written with a task or a step in it (``task``, ``self.task_``,
    ``trainer.task``, ``type(task)``, ``TASKS.get(name)``, ``step``): a hook found by probing instead of
    declared."""
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr") and node.args):
            continue
        name = ast.unparse(node.args[0]).lower()  # the object probed, as written: `self.task_`, `TASKS.get(t)`
        if any(word in name for word in ("task", "step")):
            found.append((node.lineno, ast.unparse(node)))
    return found


def test_no_code_outside_the_tasks_probes_a_task():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if "tasks" in path.relative_to(SRC).parts:
            continue
        offenders += [f"{path.relative_to(SRC)}:{line}: {code}" for line, code in _probes(ast.parse(path.read_text()))]
    assert not offenders, "declare the hook on BaseTask/BaseStep and call it:\n" + "\n".join(offenders)


def test_the_probe_finder_finds_probes():
    code = "getattr(self.task_, 'classes', None)\nhasattr(trainer.task, 'trivial')\ngetattr(type(task), 'x', 1)\n" \
           "getattr(model, 'config', None)\ngetattr(TASKS.get(name), 'y', ())\n"
    assert [line for line, _ in _probes(ast.parse(code))] == [1, 2, 3, 5]


@pytest.mark.parametrize("name", TASKS.names())
def test_every_registered_task_has_every_hook(name):
    task = get_task(name)
    assert isinstance(task, BaseTask)
    assert isinstance(task, TaskKind), f"{type(task).__name__} lacks a member of TaskKind"
    assert issubclass(type(task).step_class, BaseStep)
    for hook in ("trivial", "unpad", "join_items", "state_dict", "load_state_dict", "metric_directions", "max_length"):
        assert hasattr(type(task).step_class, hook)
    assert all(d in ("min", "max") for d in type(task).step_class.metric_directions.values())
    # Early stopping's automatic monitor is a metric the step declares, with its direction.
    assert task.default_monitor.removeprefix("val_") in type(task).step_class.metric_directions
    # What the diagnosis knows of the task is plain data the run can write and `justfit doctor` read back.
    facts = task.diagnosis_facts()
    assert json.loads(json.dumps(facts)) == facts and set(facts["refuses"]) == set(task.unsupported_settings)


def _protocol_members(protocol: type) -> list[str]:
    """The members a Protocol declares: its methods and its annotated attributes."""
    names = {n for n in vars(protocol) if not n.startswith("_") and callable(vars(protocol)[n])}
    return sorted(names | set(getattr(protocol, "__annotations__", {})))


@pytest.mark.parametrize(("name", "hook"), [(t, h) for t in TASKS.names() for h in _protocol_members(TaskKind)])
def test_every_task_has_every_task_hook(name, hook):
    """The contract, per task and per hook: a new task or a new hook is checked here by its name."""
    assert hasattr(get_task(name), hook), f"task '{name}' lacks '{hook}' (declare it on BaseTask with a default)"


@pytest.mark.parametrize(("name", "hook"), [(t, h) for t in TASKS.names() for h in _protocol_members(StepTask)])
def test_every_step_has_every_step_hook(name, hook):
    assert hasattr(type(get_task(name)).step_class, hook), \
        f"the step of '{name}' lacks '{hook}' (declare it on BaseStep with a default)"


def test_the_defaults_say_the_task_has_no_own_way():
    class Bare(BaseTask):
        pass

    class Step(BaseStep):
        pass

    task, step = Bare(), Step()
    assert task.classes is None and task.unsupported_settings == {}
    assert task.balance_report(None) is None and task.find_label_issues(None, None) is None
    assert task.predict_columns(None, []) is None and task.report_examples(None) is None
    assert Bare.load_pretrained("x") is None
    assert step.trivial([0, 1], {"val_accuracy": 0.0}) is False
    items = object()
    assert step.join_items(None, items) is items and step.unpad(None, {}) is None
    assert step.state_dict() == {} and step.load_state_dict({"a": 1}) is None
    assert step.metric_directions == {"loss": "min"}


def test_classification_declares_its_classes_and_regression_does_not():
    cls = get_task("classification").fit(["b", "a", "b"])
    assert cls.classes == ["a", "b"]
    assert get_task("regression").classes is None
    assert get_task("token-classification").classes is None


def test_frozen_feature_steps_are_steps():
    from justfit.tasks.media_features import ImageFeatureStep
    from justfit.tasks.text.features import FrozenFeatureTask

    assert issubclass(FrozenFeatureTask, BaseStep) and issubclass(ImageFeatureStep, BaseStep)
    assert isinstance(BaseStep(), StepTask) is False  # a bare step still lacks encode/collate/forward


# --- The word ban: outside the plug-ins, no code names a task or a modality -------------------------------

# The packages that may name kinds: the task plug-ins and the catalogue of packaged assets.
PLUGINS = ("tasks", "catalogue")
# Words that name a task, a head or a modality, or what only one of them has. An identifier is split into
# words at underscores, digits and case changes (``sampling_rate`` -> sampling, rate; ``ImageDataset`` ->
# image, dataset), so renaming ``text_column`` to ``textcolumn`` or ``TextColumn`` does not hide it.
BANNED = frozenset({
    "text", "texts", "image", "images", "audio", "token", "tokens", "tokenizer", "tokenizers", "tag", "tags",
    "regression", "classification", "pixel", "pixels", "whisper", "speech", "waveform", "wav", "clip", "clips",
    "spectrogram", "mel", "mfcc", "entity", "entities", "ner", "seqeval", "conll", "bio", "iob", "word", "words",
    "sentence", "sentences", "vocab", "vocabulary", "vision", "thumbnail", "phash",
})
BANNED_PAIRS = frozenset({("sampling", "rate")})
# Identifiers whose banned word has its generic sense (a file's text, not the text modality), each checked
# to exist so the list cannot go stale.
GENERIC = {
    "read_text": "pathlib.Path.read_text", "write_text": "pathlib.Path.write_text",
    "atomic_write_text": "writes a file's text atomically (_files)", "svg_text": "an SVG's <text> element",
    "TextColumn": "rich.progress.TextColumn", "LogisticRegression": "scikit-learn's estimator",
    "read_text_file": "a data file's bytes decoded", "_read_text": "a data file's bytes decoded",
    "read_json_text": "a JSON file's text",
}
# The debt: per file, the banned identifiers that are still outside the plug-ins. A file may only go down.
# When one does, lower its number here (the test says to); a new file starts at zero.
BASELINE: dict[str, int] = {
    "_files.py": 2, "_portable.py": 7, "cli/clean.py": 7, "cli/evaluate.py": 3, "cli/main.py": 10,
    "cli/predict.py": 36, "cli/train.py": 3, "config.py": 9, "data/cleaning.py": 45, "data/encoding.py": 15,
    "data/formats.py": 27, "data/inputs.py": 94, "data/io.py": 78, "data/label_audit.py": 8, "data/leakage.py": 13,
    "data/media.py": 34, "data/packaged.py": 5, "data/stage.py": 30, "data/textfile.py": 15, "defaults.py": 11,
    "diagnosis/history_io.py": 12, "diagnosis/remedies.py": 2, "diagnosis/rules.py": 9,
    "diagnosis/tool_terms.py": 4, "estimator.py": 40, "evaluation/__init__.py": 2, "evaluation/baseline.py": 7,
    "evaluation/metrics.py": 9, "export.py": 3, "models/factory.py": 47, "models/heads.py": 1, "models/lora.py": 2,
    "models/saving.py": 35, "report/plots.py": 4, "report/render.py": 7, "results.py": 1, "run.py": 2,
    "rundir.py": 5, "tracking.py": 4, "training/fit.py": 13, "training/probe.py": 1, "training/step.py": 3,
    "training/trainer.py": 2, "tuning/search.py": 4, "tuning/tune.py": 3,
}


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [w for w in re.split(r"[^a-zA-Z]+", spaced.lower()) if w]


def banned_words(name: str) -> list[str]:
    """The banned words in one identifier (or identifier-like string), ``[]`` for a generic one."""
    if name in GENERIC:
        return []
    words = _words(name)
    return [w for w in words if w in BANNED] + ["_".join(p) for p in zip(words, words[1:], strict=False)
                                               if p in BANNED_PAIRS]


def identifiers(tree: ast.AST) -> list[tuple[int, str]]:
    """Every name the code gives or uses: variables, attributes, functions, classes, arguments, keyword
    arguments, imported names, and string constants that look like identifiers (``"regression"``,
    ``"image-classification"``). Module paths in imports are the layer test's concern, not this one's."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.append((node.lineno, node.id))
        elif isinstance(node, ast.Attribute):
            found.append((node.lineno, node.attr))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.append((node.lineno, node.name))
        elif isinstance(node, ast.arg):
            found.append((node.lineno, node.arg))
        elif isinstance(node, ast.keyword) and node.arg:
            found.append((node.value.lineno, node.arg))
        elif isinstance(node, ast.alias):
            found.append((node.lineno, node.asname or node.name.rsplit(".", 1)[-1]))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and re.fullmatch(r"[\w.\-]{1,60}", node.value):
            found.append((node.lineno, node.value))
    return found


def word_debt() -> dict[str, list[str]]:
    """Per file outside the plug-ins, ``"line: identifier"`` for each banned identifier."""
    debt = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] in PLUGINS:
            continue
        hits = [f"{line}: {name}" for line, name in identifiers(ast.parse(path.read_text())) if banned_words(name)]
        if hits:
            debt[rel.as_posix()] = hits
    return debt


def test_no_code_outside_the_plugins_names_a_task_or_a_modality():
    debt = word_debt()
    grown = {f: hits for f, hits in debt.items() if len(hits) > BASELINE.get(f, 0)}
    assert not grown, (
        "code outside tasks/ names a task or a modality: make it a hook of the task or move it into the plug-in\n"
        + "\n".join(f"{f} ({len(h)} > {BASELINE.get(f, 0)}): " + ", ".join(h) for f, h in grown.items()))
    shrunk = {f: len(debt.get(f, [])) for f, n in BASELINE.items() if len(debt.get(f, [])) < n}
    assert not shrunk, f"the word debt fell; lower BASELINE to: {shrunk}"


def test_the_word_ban_sees_through_renaming():
    assert banned_words("text_column") == ["text"] and banned_words("TextColumnName") == ["text"]
    assert banned_words("textColumn") == ["text"] and banned_words("sampling_rate") == ["sampling_rate"]
    assert banned_words("IMAGE_AUGMENTATIONS") == ["image"] and banned_words("image-classification") == \
        ["image", "classification"]
    assert banned_words("read_text") == [] and banned_words("balanced_sampling") == []
    code = "def f(texts, *, sampling_rate=1):\n    if task == 'regression':\n        return x.tokens\n"
    assert sorted(n for _, n in identifiers(ast.parse(code)) if banned_words(n)) == \
        ["regression", "sampling_rate", "texts", "tokens"]


def test_every_generic_identifier_is_still_used():
    used = {name for path in SRC.rglob("*.py") for _, name in identifiers(ast.parse(path.read_text()))}
    assert not set(GENERIC) - used, f"remove from GENERIC: {sorted(set(GENERIC) - used)}"


def test_the_seam_is_typed():
    """No hook of the seam takes or returns a bare ``Any``: a config is a ``JustfitConfig``, a split a ``Splits``,
    a model and its processor are named (plain-data records such as ``dict[str, Any]`` are what they say)."""
    tree = ast.parse((SRC / "tasks" / "base.py").read_text())
    bare = []
    for cls in tree.body:
        if isinstance(cls, ast.ClassDef) and cls.name in ("BaseTask", "BaseStep", "TaskKind", "StepTask"):
            for fn in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
                args = fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs
                bare += [f"{cls.name}.{fn.name}({a.arg})" for a in args
                         if a.annotation is not None and ast.unparse(a.annotation) in ("Any", "Any | None")]
                if fn.returns is not None and "Any" in ast.unparse(fn.returns).replace("[str, Any]", ""):
                    bare.append(f"{cls.name}.{fn.name} -> {ast.unparse(fn.returns)}")
    assert not bare, f"type these hooks: {bare}"
