"""Bad inputs the bad-input benchmark (benchmarks/bad_inputs.py) found ending badly: each is a one-line error now."""

import pytest

from dass.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        # a text file as a predictor checkpoint: torch's reader raised a KeyError (exit 1, a traceback)
        (
            [
                "predict",
                "--task",
                "digits",
                "--teacher",
                "cnn-s",
                "--genome",
                "examples/student.json",
                "--checkpoint",
                "{text}",
            ],
            "it is not a torch.save file",
        ),
        # an empty --show printed the list of sources and exited 0
        (["tasks", "--show", ""], "unknown task source ''"),
        # a validation share that rounds to no image
        (["tasks", "--show", "digits:val_fraction=0.0001"], "is no image: raise val_fraction or give n_val"),
        # no validation images at all: every student would be reported (and picked) at 0
        (
            [
                "train",
                "--task",
                "digits:val_fraction=0",
                "--teacher",
                "cnn-s",
                "--genome",
                "examples/student.json",
                "--epochs",
                "1",
                "--out",
                "{tmp}/t",
            ],
            "has no validation images",
        ),
    ],
)
def test_one_line_error_and_exit_2(argv, message, tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("hello\n")
    code = main([a.format(text=text, tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
