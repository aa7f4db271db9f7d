import re

import pytest
import torch
from torch import nn

from distill.teachers import get_teacher, parse_zoo_name, teacher_outputs, zoo_names
from distill.trainer import TrainConfig


class TinyTeacher(nn.Module):
    """A user network without forward_features: stage maps are found with hooks."""

    def __init__(self, classes: int = 5, channels: int = 1) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(channels, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        return self.fc(torch.relu(self.c2(torch.relu(self.c1(x)))).mean((2, 3)))


TEACHER_MODULE = """
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        return self.fc(torch.relu(self.c2(torch.relu(self.c1(x)))).mean((2, 3)))

def make():
    return Net()
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_teacher.py").write_text(TEACHER_MODULE)
    monkeypatch.chdir(tmp_path)  # the module is found from the working directory, as on the command line
    return "my_teacher:make"


def test_unknown_zoo_name_lists_the_zoo():
    with pytest.raises(ValueError, match=r"unknown teacher 'resnet-xl'; valid: .*resnet-s"):
        parse_zoo_name("resnet-xl")
    assert "mobilenet-l" in zoo_names()


def test_torchscript_teacher(tmp_path, digits_task):
    path = tmp_path / "t.pt"
    torch.jit.save(torch.jit.script(TinyTeacher()), str(path))
    teacher = get_teacher(str(path), digits_task)
    assert teacher.family == "user" and len(teacher.id) == 16
    out = teacher_outputs(teacher, digits_task)
    assert out.logits_train.shape == (len(digits_task.x_train), 5)
    assert out.features == {}  # TorchScript hides its stages: hints are not available


def test_callable_teacher_with_weights(tmp_path, digits_task, user_module):
    weights = tmp_path / "w.pt"
    torch.save(TinyTeacher().state_dict(), weights)
    teacher = get_teacher(user_module, digits_task, weights=str(weights))
    out = teacher_outputs(teacher, digits_task)
    assert set(out.features) == {"early", "mid", "late"}
    assert out.features["early"].shape[1:] == (4, 8, 8) and out.features["late"].shape[1:] == (8, 4, 4)


def test_callable_teacher_needs_weights(digits_task, user_module):
    with pytest.raises(ValueError, match="--teacher-weights"):
        get_teacher(user_module, digits_task)
    with pytest.raises(ValueError, match="cannot import 'nope' from module 'my_teacher'"):
        get_teacher("my_teacher:nope", digits_task)


def test_class_count_mismatch(tmp_path, digits_task):
    path = tmp_path / "t10.pt"
    torch.jit.save(torch.jit.script(TinyTeacher(classes=10)), str(path))
    with pytest.raises(ValueError, match="outputs 10 classes but task 'digits:classes=0-4' has 5"):
        get_teacher(str(path), digits_task)


def test_input_shape_mismatch(tmp_path, digits_task):
    path = tmp_path / "rgb.pt"
    torch.jit.save(torch.jit.script(TinyTeacher(channels=3)), str(path))
    with pytest.raises(ValueError, match=r"does not accept inputs of shape \(1, 8, 8\)"):
        get_teacher(str(path), digits_task)


def test_truncated_and_foreign_files(tmp_path, digits_task):
    good = tmp_path / "good.pt"
    torch.jit.save(torch.jit.script(TinyTeacher()), str(good))
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="is not a TorchScript module"):
        get_teacher(str(cut), digits_task)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="is not a TorchScript module"):
        get_teacher(str(text), digits_task)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        get_teacher(str(tmp_path / "missing.pt"), digits_task)


def test_zoo_teacher_from_a_weights_file(tmp_path, digits_task):
    trained = get_teacher("cnn-s", digits_task, config=TrainConfig(epochs=1))
    weights = tmp_path / "cnn.pt"
    torch.save(trained.model.state_dict(), weights)
    loaded = get_teacher("cnn-s", digits_task, weights=str(weights))
    x = digits_task.x_val[:4]
    assert torch.allclose(loaded.model(x), trained.model(x))
    with pytest.raises(ValueError, match="does not fit the architecture"):
        get_teacher("resnet-s", digits_task, weights=str(weights))
    cut = tmp_path / "cut.pt"
    cut.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError, match="is not a readable state_dict"):
        get_teacher("cnn-s", digits_task, weights=str(cut))


def test_a_teacher_file_of_the_wrong_kind_says_what_to_pass(tmp_path, digits_task):
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    whole, state, script = tmp_path / "whole.pt", tmp_path / "state.pt", tmp_path / "script.pt"
    torch.save(net, whole)
    torch.save(net.state_dict(), state)
    torch.jit.save(torch.jit.script(net), str(script))
    predictor = tmp_path / "predictor.pt"  # what `dass pretrain` writes: tensors and plain values
    torch.save({"format_version": 1, "params": {}, "models": [net.state_dict()], "info": {}}, predictor)
    cases = [
        ("cnn-s", whole, "holds pickled Python objects (a whole model?)"),
        ("cnn-s", script, "is a TorchScript module, not a state_dict: pass it as --teacher"),
        (str(state), None, "is a state_dict, not a TorchScript module"),
        (str(script), state, "takes no --teacher-weights"),
        (str(predictor), None, "is a dass predictor checkpoint, not a teacher: pass it as --checkpoint"),
        ("cnn-s", predictor, "is a dass predictor checkpoint: pass it as --checkpoint"),
    ]
    for name, weights, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)) as err:
            get_teacher(name, digits_task, weights=None if weights is None else str(weights))
        assert "\n" not in str(err.value) and "\x1b" not in str(err.value)


def test_hooked_stages_skip_squeeze_excitation_maps(tmp_path, digits_task):
    class WithSE(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(1, 4, 3, padding=1)
            self.pool = nn.AdaptiveAvgPool2d(1)  # a 1x1 map: not a stage
            self.c2 = nn.Conv2d(4, 8, 3, stride=2, padding=1)
            self.fc = nn.Linear(8, 5)

        def forward(self, x):
            h = torch.relu(self.c1(x))
            h = h * torch.sigmoid(self.pool(h))
            return self.fc(torch.relu(self.c2(h)).mean((2, 3)))

    from distill.teachers import Teacher

    _, stages = Teacher("t", "0" * 16, "user", WithSE()).features(digits_task.x_val[:3])
    assert [tuple(s.shape[2:]) for s in stages] == [(8, 8), (4, 4)]


def test_user_callable_that_raises_is_one_line(tmp_path, monkeypatch, digits_task):
    (tmp_path / "broken_teacher.py").write_text("def make():\n    raise RuntimeError('no GPU here')\n")
    monkeypatch.chdir(tmp_path)
    weights = tmp_path / "w.pt"
    torch.save({}, weights)
    with pytest.raises(ValueError, match=r"calling make\(\) failed \(RuntimeError: no GPU here\)"):
        get_teacher("broken_teacher:make", digits_task, weights=str(weights))


class ConstantTeacher(nn.Module):
    """Logits ``value`` everywhere, with class 0 a little ahead: no better than the most frequent class."""

    def __init__(self, value: float, classes: int = 5) -> None:
        super().__init__()
        self.value, self.classes = value, classes

    def forward(self, x):
        logits = torch.full((x.shape[0], self.classes), self.value)
        logits[:, 0] += 1.0
        return logits


def test_a_teacher_with_non_finite_outputs_is_refused_before_any_student(tmp_path, digits_task):
    """A NaN teacher used to be accepted and every student 'diverged' (issue 22, item 6)."""
    path = tmp_path / "nan.pt"
    torch.jit.save(torch.jit.script(ConstantTeacher(float("nan"))), str(path))
    with pytest.raises(ValueError, match=rf"teacher '{re.escape(str(path))}' gives non-finite outputs \(NaN or inf\)"):
        get_teacher(str(path), digits_task)
    # a zoo architecture with damaged weights, and outputs computed without get_teacher, are refused alike
    weights = tmp_path / "nan_weights.pt"
    net = get_teacher("cnn-s", digits_task, config=TrainConfig(epochs=1)).model
    torch.save(
        {k: v.float().fill_(float("nan")) if v.is_floating_point() else v for k, v in net.state_dict().items()}, weights
    )
    with pytest.raises(ValueError, match=r"teacher 'cnn-s' gives non-finite outputs"):
        get_teacher("cnn-s", digits_task, weights=str(weights))
    from distill.teachers import Teacher

    bad = Teacher("bad", "0" * 16, "user", ConstantTeacher(float("inf")))
    with pytest.raises(ValueError, match=r"teacher 'bad' gives non-finite outputs .* on 536 of 536 training images"):
        teacher_outputs(bad, digits_task, cache=str(tmp_path / "cache"))
    assert not (tmp_path / "cache" / "outputs").exists() or not any((tmp_path / "cache" / "outputs").iterdir())


def test_a_teacher_at_or_near_chance_is_a_warning(tmp_path, digits_task, caplog):
    path = tmp_path / "constant.pt"
    torch.jit.save(torch.jit.script(ConstantTeacher(0.0)), str(path))
    with caplog.at_level("WARNING", logger="distill.teachers"):
        teacher = get_teacher(str(path), digits_task)  # still usable: a warning, not an error
    assert teacher.family == "user"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "no better than chance" in warnings[0], warnings
    assert re.search(r"validation accuracy 0\.\d+ on 95 images; chance \(the most frequent class\) 0\.\d+", warnings[0])
    caplog.clear()
    with caplog.at_level("WARNING", logger="distill.teachers"):
        get_teacher("cnn-s", digits_task, config=TrainConfig(epochs=1))
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
