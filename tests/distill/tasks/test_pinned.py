"""Pinned tasks: the spec string, the id and every tensor of a few tasks.

A task's id keys the teacher cache and the meta-dataset's records, and its tensors are what every stored accuracy
was trained on, so a refactor must reproduce both: same random draws in the same order, same resizing, same
transforms. If one of these changes on purpose, every cached teacher and record of that task changes meaning too.

The spec, the id, the labels, the shapes and the class names are pinned bit for bit. The images are pinned by
float64 sums (plain, of squares, and weighted by fixed random weights, which catches a reordering) to 1e-6 per
pixel, and the pixel statistics to 1e-6: a float transform (``rotate``'s grid_sample, ``blur``) rounds its last
bits differently on different CPUs of one instruction set (two AVX-512 machines gave other low bits), while a
changed draw, order or transform moves these sums by far more. The pins were first written bit for bit with the
single-module ``distill/tasks.py`` before it became this package, and the code reproduced them until it met
another CPU; the float sums were then written from that same code on the other CPU.

The tasks are built on one torch thread: ``rotate`` (grid_sample) and ``downsample`` (antialiased
interpolate) give other low bits on two threads than on one.
"""

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from distill.tasks import Task, load_task

SPLITS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


def _digest(task: Task) -> tuple[str, dict[str, list[float]]]:
    """16 hex digits of sha256 over what must not move a bit (every split's dtype and shape, the labels, the class
    count and names), and the float facts: per image split its float64 sum, sum of squares and weighted sum,
    and the task's pixel and input statistics."""
    h = hashlib.sha256()
    floats: dict[str, list[float]] = {}
    for name in SPLITS:
        t = getattr(task, name).contiguous()
        h.update(f"{name}{t.dtype}{tuple(t.shape)};".encode())
        if name.startswith("y_"):
            h.update(t.numpy().tobytes())
        else:
            x = t.numpy().astype(np.float64).ravel()
            weights = np.random.default_rng(0).uniform(-1.0, 1.0, x.size)
            floats[name] = [float(x.sum()), float((x * x).sum()), float(x @ weights)]
    h.update(repr((task.num_classes, task.class_names)).encode())
    for fact in ("pixel_mean", "pixel_std", "input_mean", "input_std"):
        floats[fact] = [float(v) for v in getattr(task, fact)]
    return h.hexdigest()[:16], floats


def _assert_pinned(task: Task, text: str, task_id: str, exact: str, floats: dict[str, list[float]]) -> None:
    got_exact, got_floats = _digest(task)
    assert (str(task.spec), task.id, got_exact) == (text, task_id, exact)
    assert set(got_floats) == set(floats)
    for name, values in floats.items():  # a float32 pixel's last bit is below 3e-7; the sums add up to numel of them
        atol = 1e-6 * (getattr(task, name).numel() if name in SPLITS else 1)
        np.testing.assert_allclose(got_floats[name], values, rtol=0, atol=atol, err_msg=name)


def _make_npz(path) -> str:
    rng = np.random.default_rng(7)
    np.savez(
        path,
        x_train=rng.integers(0, 256, (60, 6, 6), dtype=np.uint8),
        y_train=np.arange(60) % 3,
        x_test=rng.integers(0, 256, (30, 6, 6), dtype=np.uint8),
        y_test=np.arange(30) % 3,
        class_names=np.array(["a", "b", "c"]),
    )
    return str(path)


def _make_folder(root) -> str:
    """Two classes of six random 5x5 PNGs; one colour image makes the task RGB."""
    rng = np.random.default_rng(3)
    for c, name in enumerate(["cat", "dog"]):
        (root / name).mkdir(parents=True)
        for i in range(6):
            mode = "RGB" if (c, i) == (1, 5) else "L"
            shape = (5, 5, 3) if mode == "RGB" else (5, 5)
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(root / name / f"{i}.png")
    return str(root)


# spec -> (canonical spec string, id, exact digest, float facts); NPZ and FOLDER stand for the files made above.
PINNED = {
    "digits": (
        "digits",
        "1bf2633ec0896010",
        "dba03ad5634acf56",
        {
            "x_train": [-0.0015458539128303528, 68414.99468297965, -21.55814135752567],
            "x_val": [12.039670569822192, 12116.623182455442, -4.162691954211869],
            "x_test": [-131.56198420003057, 34370.44633070138, 90.99723314307728],
            "pixel_mean": [0.3056512773036957],
            "pixel_std": [0.37622272968292236],
            "input_mean": [0.3056512773036957],
            "input_std": [0.37622272968292236],
        },
    ),
    "digits:classes=0-4:transform=noise0.3:size=16:n_train=300:seed=1": (
        "digits:classes=0-4:transform=noise0.3:size=16:n_train=300:seed=1",
        "38d66aa813d8a012",
        "e473e2ec1a9f5f01",
        {
            "x_train": [8.020756922633154e-05, 65278.99848311962, -35.27994395867849],
            "x_val": [-198.91365811807918, 11248.08445975681, 0.556690793695136],
            "x_test": [-458.1629034532193, 68761.19514564871, 228.24436429882465],
            "pixel_mean": [0.3522520661354065],
            "pixel_std": [0.33756449818611145],
            "input_mean": [0.3522520661354065],
            "input_std": [0.33756449818611145],
        },
    ),
    "digits:classes=0,2,7:transform=rotate:size=12:n_val=50:n_test=100": (
        "digits:classes=0,2,7:transform=rotate30:size=12:n_val=50:n_test=100",
        "3340dc9ecff1d4de",
        "48884a2636b5c5bc",
        {
            "x_train": [0.0030430866481765406, 46655.001198339305, -61.01746473927781],
            "x_val": [35.20950615318725, 7270.87616374004, 44.708425536560014],
            "x_test": [-208.90880986018965, 14171.926309545775, -17.828406135979606],
            "pixel_mean": [0.29560986161231995],
            "pixel_std": [0.29397618770599365],
            "input_mean": [0.29560986161231995],
            "input_std": [0.29397618770599365],
        },
    ),
    "digits:classes=1-3:transform=blur:norm=none": (
        "digits:classes=1-3:transform=blur1:norm=none",
        "796824815de05a21",
        "82faac2a58637632",
        {
            "x_train": [6236.527961672388, 3057.8018007405067, 53.17379686198455],
            "x_val": [1095.5280195073428, 535.5833594762667, -5.726916410774999],
            "x_test": [3139.705200135908, 1526.0912232238481, -4.889162956003829],
            "pixel_mean": [0.3026265501976013],
            "pixel_std": [0.23832599818706512],
            "input_mean": [0.0],
            "input_std": [1.0],
        },
    ),
    "digits:transform=downsample3:norm=0.5/0.25:val_fraction=0.2": (
        "digits:transform=downsample3:val_fraction=0.2:norm=0.5/0.25",
        "020ea09ce6749d8f",
        "9e4746f1bbda364c",
        {
            "x_train": [-45497.66247832775, 53100.78723905275, 75.27647849749214],
            "x_val": [-11422.994871377945, 13240.396415947624, 22.781771379718858],
            "x_test": [-24586.816343426704, 28516.119776817017, -20.318889166495723],
            "pixel_mean": [0.32333478331565857],
            "pixel_std": [0.14260666072368622],
            "input_mean": [0.5],
            "input_std": [0.25],
        },
    ),
    "digits:classes=8,9:transform=invert:size=10:seed=4": (
        "digits:classes=8,9:transform=invert:size=10:seed=4",
        "08bc9845ee1f83fa",
        "383378cd382b49f1",
        {
            "x_train": [0.0036894796357955784, 21099.000324225744, -80.53164604310575],
            "x_val": [-66.06971013633301, 3754.3793049152214, -17.393999259651682],
            "x_test": [20.25112928263843, 10610.704734002702, -122.58488003999265],
            "pixel_mean": [0.6870107054710388],
            "pixel_std": [0.31595730781555176],
            "input_mean": [0.6870107054710388],
            "input_std": [0.31595730781555176],
        },
    ),
    "npz:path=NPZ:transform=noise0.1:seed=2": (
        "npz:path=NPZ:transform=noise0.1:seed=2",
        "ae339ea8f40e9bb8",
        "7ca272601d3b545a",
        {
            "x_train": [0.00023961917031556368, 1834.9998096979166, -31.76048973672161],
            "x_val": [-22.989292382495478, 314.6534009270352, -7.145158640081465],
            "x_test": [34.1050608844962, 1085.6526947420502, -12.62813336140408],
            "pixel_mean": [0.5042505860328674],
            "pixel_std": [0.29559773206710815],
            "input_mean": [0.5042505860328674],
            "input_std": [0.29559773206710815],
        },
    ),
    "folder:path=FOLDER:size=4": (
        "folder:path=FOLDER:size=4",
        "f2ac090c8766b856",
        "9a7f12a91801c5a4",
        {
            "x_train": [-3.8897618651390076e-05, 380.99998911908403, -2.55457983032262],
            "x_val": [3.543534407392144, 96.9979359497227, -3.987708093784854],
            "x_test": [18.857336774468422, 58.20963180177238, 5.425564130675005],
            "pixel_mean": [0.4727022349834442, 0.4727022349834442, 0.4727022349834442],
            "pixel_std": [0.1651720106601715, 0.1651720106601715, 0.1651720106601715],
            "input_mean": [0.4727022349834442, 0.4727022349834442, 0.4727022349834442],
            "input_std": [0.1651720106601715, 0.1651720106601715, 0.1651720106601715],
        },
    ),
}

# spec -> (id, exact digest, float facts)
PINNED_MNIST = {
    "mnist:classes=0-4:transform=rotate15:size=16:n_train=500:n_val=100:n_test=200:seed=2": (
        "c2473f2a070f6eb3",
        "5378ee72f7aa1646",
        {
            "x_train": [-0.00042508197930146707, 127999.00346075962, -254.3680185368596],
            "x_val": [-114.35382130887592, 25241.007452295253, 20.94755171769082],
            "x_test": [387.77928995518596, 52130.0142914508, -104.9532062561737],
            "pixel_mean": [0.13290904462337494],
            "pixel_std": [0.24574092030525208],
            "input_mean": [0.13290904462337494],
            "input_std": [0.24574092030525208],
        },
    ),
    "mnist:classes=3,5:n_train=200:n_test=100:norm=0.1307/0.3081": (
        "7d3ec5f5f6976296",
        "68818c81aa36867f",
        {
            "x_train": [3242.319230113644, 137901.7262056868, -11.459173243555384],
            "x_val": [55.465325387660414, 23191.156825553233, -122.70367619224628],
            "x_test": [3192.0697572859935, 84735.50545177472, 238.4464124742197],
            "pixel_mean": [0.13819520175457],
            "pixel_std": [0.3133079409599304],
            "input_mean": [0.1307000070810318],
            "input_std": [0.30809998512268066],
        },
    ),
}


@pytest.fixture(autouse=True)
def one_thread():
    """Tensors of some transforms depend on torch's thread count (see the module docstring): pin it."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("pinned")
    return {"NPZ": _make_npz(root / "data.npz"), "FOLDER": _make_folder(root / "imgs")}


@pytest.mark.parametrize("spec", PINNED)
def test_pinned_task(spec, files):
    text, task_id, exact, floats = PINNED[spec]
    for placeholder, path in files.items():
        spec, text = spec.replace(placeholder, path), text.replace(placeholder, path)
    _assert_pinned(load_task(spec), text, task_id, exact, floats)


@pytest.mark.parametrize("spec", PINNED_MNIST)
def test_pinned_mnist_task(spec, mnist_dir):
    _assert_pinned(load_task(spec, mnist_dir), spec, *PINNED_MNIST[spec])
