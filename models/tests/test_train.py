"""bagnet_tools.train: a model for the user's own data, from a folder (PNG and DICOM) to a model folder.

The main test trains on a data set made here (bagnet_tools.shapes: classes that differ only in the
shape of a small object at a random place on textured noise) within a 3-minute budget, checks its
validation accuracy, and plays the pointing game with the exact evidence map on fresh images. It
writes build/trained/shapes, which the browser test (test/trained-model.test.ts) loads.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from bagnet_tools import shapes
from bagnet_tools.arch import IMAGENET_CONFIGS, BagNetConfig, build
from bagnet_tools.train import TrainingError, initialise_from, main
from conftest import randomize
from test_convert import save_like_the_authors

ROOT = Path(__file__).resolve().parents[2]
TRAINED = ROOT / "build" / "trained" / "shapes"
BUDGET_SECONDS = 170  # the 3 minutes, less reading and writing the folder


@pytest.fixture(scope="module")
def shapes_data(tmp_path_factory):
    return shapes.make(tmp_path_factory.mktemp("shapes"), per_class=300, seed=0)


@pytest.fixture(scope="module")
def trained(shapes_data):
    """The test model, trained now within the time budget (its 14 epochs take well under it here)."""
    shutil.rmtree(TRAINED, ignore_errors=True)
    assert main(["--data", str(shapes_data), "--out", str(TRAINED), *shapes.TRAIN_ARGS]) == 0
    assert shapes.TRAIN_ARGS[shapes.TRAIN_ARGS.index("--time-budget") + 1] == str(BUDGET_SECONDS)
    return TRAINED


def load_trained(folder: Path):
    saved = torch.load(folder.with_name(folder.name + ".training") / "q9" / "checkpoint.pt", map_location="cpu")
    model = build(BagNetConfig(**saved["config"]))
    model.load_state_dict(saved["state_dict"])
    return model.eval()


def test_trains_to_095_within_the_budget_and_writes_the_folder(trained):
    manifest = json.loads((trained / "bagnet.json").read_text())
    training = manifest["provenance"]["training"]
    print(f"validation top-1 {manifest['metrics']['top1']:.4f} after {training['epochs']} epochs, "
          f"{training['train_seconds']} s of training")
    assert manifest["metrics"]["top1"] >= 0.95
    assert manifest["labels"] == ["cross", "frame", "plus"]
    assert manifest["patchSize"] == 9 and manifest["input"]["channels"] == 1
    assert manifest["input"]["resize"] == {"mode": "stretch", "width": 32, "height": 32}
    # A quarter of the files are DICOM: the viewer must preprocess them as the training did.
    assert manifest["input"]["dicom"] == {"window": "file", "invertMonochrome1": True}
    assert training["classes"] == {"cross": 300, "frame": 300, "plus": 300}
    assert set(manifest["files"]) == {"fp32", "int8"} and manifest["files"]["int8"]["metrics"]["agreement"] >= 0.95
    samples = json.loads((trained / "samples.json").read_text())
    assert len(samples) == 6 and all((trained / s["file"]).exists() for s in samples)
    card = (trained / "MODEL_CARD.md").read_text()
    for fragment in ("| cross | 240 | 60 |", "Confusion on the validation images", "## Intended use", "## Limitations",
                     f"Validation top-1: **{manifest['metrics']['top1']:.4f}**"):
        assert fragment in card


def exact_map(model, image: np.ndarray, mean: float, std: float, q: int) -> np.ndarray:
    """The authors' reference map: the logits of the q×q patch centred on every pixel (zero-padded,
    normalised), patch by patch. [classes, H, W]."""
    x = torch.from_numpy((image.astype(np.float32) / 255 - mean) / std)[None, None]
    padded = torch.nn.functional.pad(x, ((q - 1) // 2,) * 4)
    patches = padded.unfold(2, q, 1).unfold(3, q, 1)  # [1, 1, H, W, q, q]
    h, w = patches.shape[2:4]
    with torch.no_grad():
        logits = model(patches.reshape(1, h * w, q, q).permute(1, 0, 2, 3).contiguous())[:, 0, 0, :]
    return logits.T.reshape(-1, h, w).numpy()


def test_the_exact_map_points_at_the_object(trained):
    """The pointing game: the pixel of highest evidence for the true class lies in the object's box
    grown by q/4, on fresh images."""
    model = load_trained(trained)
    manifest = json.loads((trained / "bagnet.json").read_text())
    q, mean, std = manifest["patchSize"], manifest["input"]["mean"][0], manifest["input"]["std"][0]
    rng = np.random.default_rng(123)
    hits, games = 0, 0
    for k, shape in enumerate(manifest["labels"]):
        for _ in range(40):
            image, (left, top, width, height) = shapes.image(shape, rng)
            evidence = exact_map(model, image, mean, std, q)[k]
            y, x = np.unravel_index(np.argmax(evidence), evidence.shape)
            grow = q / 4
            hits += (left - grow <= x + 0.5 <= left + width + grow) and (top - grow <= y + 0.5 <= top + height + grow)
            games += 1
    print(f"pointing game: {hits}/{games}")
    assert hits / games >= 0.9


def test_fine_tunes_from_an_authors_checkpoint(tmp_path, capsys):
    reference = randomize(build(IMAGENET_CONFIGS["bagnet9"]), seed=3)
    checkpoint = save_like_the_authors(reference, tmp_path / "bagnet8.pth.tar")
    model = build(BagNetConfig(**{**IMAGENET_CONFIGS["bagnet9"].to_json(), "num_classes": 4}))
    loaded = initialise_from(model, checkpoint)
    theirs = reference.state_dict()
    ours = model.state_dict()
    compared = [k for k in theirs if not k.startswith("fc.") and not k.endswith("num_batches_tracked")]
    assert loaded == len(compared) and all(torch.equal(ours[k], theirs[k]) for k in compared)
    assert ours["fc.weight"].shape == (4, 2048)
    # A checkpoint that does not fit names the tensor.
    state = {k: v for k, v in torch.load(checkpoint).items()}
    state["module.layer2.0.conv2.weight"] = torch.zeros(128, 128, 1, 1)
    torch.save(state, tmp_path / "bad.pth.tar")
    with pytest.raises(TrainingError, match=r"layer2\.0\.conv2\.weight is \[128, 128, 1, 1\] in the checkpoint, "
                                            r"\[128, 128, 3, 3\] in the model"):
        initialise_from(build(BagNetConfig(**{**IMAGENET_CONFIGS["bagnet9"].to_json(), "num_classes": 4})), tmp_path / "bad.pth.tar")
    # Through the command: a folder of RGB images, one epoch, the manifest says where it started.
    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (data / label).mkdir(parents=True)
        for i in range(5):
            from PIL import Image
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(data / label / f"{i}.png")
    out = tmp_path / "tuned"
    assert main(["--data", str(data), "--out", str(out), "--arch", "imagenet", "--patch-size", "9", "--init", str(checkpoint),
                 "--input-size", "24", "--epochs", "1", "--batch-size", "4", "--precisions", "--min-per-class", "2"]) == 0
    manifest = json.loads((out / "bagnet.json").read_text())
    assert manifest["provenance"]["init"]["tensors"] == len(compared)
    assert manifest["input"]["mean"] == [0.485, 0.456, 0.406] and manifest["arch"] == "bagnet9"
    assert main(["--data", str(data), "--out", str(tmp_path / "bad-out"), "--arch", "imagenet", "--patch-size", "9",
                 "--init", str(tmp_path / "bad.pth.tar"), "--input-size", "24", "--min-per-class", "2"]) == 2
    assert "layer2.0.conv2.weight" in capsys.readouterr().err and not (tmp_path / "bad-out").exists()


def small_data(folder: Path, per_class: int = 12, sizes=((32, 32),)) -> Path:
    rng = np.random.default_rng(1)
    for shape in ("frame", "plus"):
        (folder / shape).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            from PIL import Image
            gray, _ = shapes.image(shape, rng)
            w, h = sizes[i % len(sizes)]
            Image.fromarray(gray).resize((w, h)).save(folder / shape / f"{i:03d}.png")
    return folder


def fails(argv, capsys, *fragments):
    assert main(argv) == 2
    err = capsys.readouterr().err
    for fragment in fragments:
        assert fragment in err, err


def test_bad_data_fails_clearly_and_writes_nothing(tmp_path, capsys):
    data = small_data(tmp_path / "data")
    (data / "plus" / "broken.png").write_bytes(b"\x89PNG not really")
    (data / "frame" / "broken.dcm").write_bytes(b"not dicom")
    out = tmp_path / "out"
    common = ["--out", str(out), "--input-size", "32", "--epochs", "1", "--precisions"]
    fails(["--data", str(data), *common], capsys, "2 file(s) could not be read (--skip-bad leaves them out)",
          "broken.png", "broken.dcm: not a readable DICOM file")
    assert not out.exists() and not out.with_name("out.training").exists()
    fails(["--data", str(data), *common, "--skip-bad", "--min-per-class", "13"], capsys,
          "every class needs at least 13 images", "frame: 12", "plus: 12")
    mixed = small_data(tmp_path / "mixed", sizes=((32, 32), (40, 32)))
    fails(["--data", str(mixed), *common, "--resize", "none"], capsys, "different sizes", "32×32: 12 images", "32×40: 12 images")
    (tmp_path / "labels.csv").write_text("file,class\nframe/000.png,frame\n")
    fails(["--csv", str(tmp_path / "labels.csv"), *common], capsys, "has no 'path' or 'label' column", "file, class")
    assert not out.exists()
    # --skip-bad trains without them, and the card and manifest say what was left out.
    assert main(["--data", str(data), *common, "--skip-bad", "--min-per-class", "2"]) == 0
    manifest = json.loads((out / "bagnet.json").read_text())
    assert len(manifest["provenance"]["training"]["skipped"]) == 2
    assert "Left out (unreadable, `--skip-bad`): 2 file(s)." in (out / "MODEL_CARD.md").read_text()


def test_csv_patch_sizes_and_resume(tmp_path, capsys):
    data = small_data(tmp_path / "data")
    rows = ["path,label"] + [f"{p.relative_to(data)},{p.parent.name}" for p in sorted(data.rglob("*.png"))]
    (data / "labels.csv").write_text("\n".join(rows) + "\n")
    common = ["--csv", str(data / "labels.csv"), "--input-size", "32", "--epochs", "3", "--batch-size", "8", "--precisions"]
    # Two patch sizes: the card gets the table and the plot, the manifest the one kept.
    assert main([*common, "--out", str(tmp_path / "both"), "--patch-sizes", "5", "9"]) == 0
    manifest = json.loads((tmp_path / "both" / "bagnet.json").read_text())
    by_q = manifest["provenance"]["patchSizes"]
    assert set(by_q) == {"5", "9"} and manifest["metrics"]["top1"] == max(by_q.values())
    card = (tmp_path / "both" / "MODEL_CARD.md").read_text()
    assert "## Accuracy over patch size" in card and "(kept)" in card
    assert (tmp_path / "both" / "accuracy-over-q.svg").read_text().startswith("<svg")
    # Interrupted after epoch 1 and resumed: the same weights as the run that was not interrupted.
    assert main([*common, "--out", str(tmp_path / "whole")]) == 0
    assert main([*common, "--out", str(tmp_path / "parts"), "--stop-after", "1"]) == 0
    assert not (tmp_path / "parts").exists()
    fails([*common, "--out", str(tmp_path / "parts"), "--resume", "--lr", "0.2"], capsys, "these differ: recipe")
    assert main([*common, "--out", str(tmp_path / "parts"), "--resume"]) == 0
    whole = torch.load(tmp_path / "whole.training" / "q9" / "checkpoint.pt")["state_dict"]
    parts = torch.load(tmp_path / "parts.training" / "q9" / "checkpoint.pt")["state_dict"]
    assert all(torch.equal(whole[k], parts[k]) for k in whole)


def test_frames_of_one_file_stay_on_one_side_of_the_split(tmp_path):
    """A multi-frame DICOM's frames are near-duplicates: they must not be both trained on and validated on."""
    from bagnet_tools.datasets import load, scan_folder, split
    from test_dicom_pixels import write_dicom

    rng = np.random.default_rng(2)
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(4):
            write_dicom(tmp_path / label / f"{i}.dcm", rng.integers(0, 4000, (3, 12, 12)), WindowCenter="2000", WindowWidth="4000")
    labels, items = scan_folder(tmp_path)
    dataset = load(items, labels, channels=1, resize={"mode": "none"}, min_per_class=2)
    assert len(dataset.targets) == 24 and dataset.sources[1].endswith("0.dcm (frame 2)")
    fit, val = split(dataset, 0.25, seed=0)
    assert len(val) == 6 and set(dataset.files[fit]).isdisjoint(dataset.files[val])
    with pytest.raises(Exception, match="between 0 and 1"):
        split(dataset, 1.0, seed=0)
