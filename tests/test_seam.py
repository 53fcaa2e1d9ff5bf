"""The task seam: code outside ``tasks/`` learns about a task only through its declared, defaulted hooks."""

import ast
from pathlib import Path

import pytest

from justfit.tasks.base import TASKS, BaseStep, BaseTask, StepTask, TaskKind, get_task

SRC = Path(__file__).resolve().parents[1] / "src" / "justfit"


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
    from justfit.tasks.features import FrozenFeatureTask
    from justfit.tasks.image_frozen import ImageFeatureStep

    assert issubclass(FrozenFeatureTask, BaseStep) and issubclass(ImageFeatureStep, BaseStep)
    assert isinstance(BaseStep(), StepTask) is False  # a bare step still lacks encode/collate/forward
