"""Training on image-labelled class folders as a new user would (issue 16).

A folder with ``Normal/``, ``hemorrhage/`` and ``stroke/`` sub-folders of 2D PNG slices
and a stray ``notes.txt``: the classes keep their names, unused entries are reported, the
split holds out both classes, unsupervised training sees normal images only, ``fit`` and
``evaluate`` report image metrics, and one-class evaluations fail in one line.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import SimpleITK as sitk
from AnomalyDetectLib.bundle import read_manifest
from AnomalyDetectLib.errors import AnomalyDetectError
from AnomalyDetectLib.phantom import make_head_phantom
from conftest import TINY_ARCHITECTURE

from trainer.cli import main as trainer_main
from trainer.data import discover_data, split_by_patient
from trainer.fit import FitConfig, fit
from trainer.normalisation import EIGHT_BIT_CT, choose_normaliser

pytestmark = pytest.mark.usefixtures("one_thread")

CLASSES = (("Normal", False, 24), ("hemorrhage", True, 8), ("stroke", True, 8))


def _write_slice(path, seed: int, lesion: bool) -> None:
    volume, _ = make_head_phantom(seed=seed, shape=(3, 40, 48), lesion=lesion)
    sitk.WriteImage(sitk.GetImageFromArray(volume.voxels[1]), str(path))  # uint8 grey PNG, the middle (lesion) slice


def _write_class_folders(root, classes=CLASSES) -> str:
    seed = 0
    for name, lesion, count in classes:
        (root / name).mkdir()
        for index in range(count):
            _write_slice(root / name / f"{index:03d}.png", seed, lesion)
            seed += 1
    return str(root)


@pytest.fixture(scope="module")
def class_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("headct")
    _write_class_folders(root)
    (root / "notes.txt").write_text("exported from PACS")
    (root / "hemorrhage" / "readme.md").write_text("windowed 0-80 HU")
    (root / "unsorted").mkdir()
    return str(root)


@pytest.fixture(scope="module")
def folder_bundle(class_folders, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("model") / "folders.safetensors")
    manifest = fit(FitConfig(
        method="skipganomaly", data=class_folders, out=out, modality="CT", input_size=32, epochs=50, batch_size=4,
        validation_fraction=0.25, test_fraction=0.25, seed=0, device="cpu", architecture=dict(TINY_ARCHITECTURE),
        max_steps=6, quiet=True,
    ))
    return out, manifest


def test_sub_folders_are_named_classes_and_unused_entries_are_reported(class_folders):
    inventory = discover_data(class_folders)
    assert inventory.layout == "class folders"
    assert inventory.class_counts() == {"normal": 24, "hemorrhage": 8, "stroke": 8}
    assert {(case.label, case.label_name) for case in inventory.cases} == {(0, "normal"), (1, "hemorrhage"), (1, "stroke")}
    assert all(case.image.endswith(".png") and case.mask is None for case in inventory.cases)
    assert sorted(inventory.unused) == ["hemorrhage/readme.md (not an image or volume)", "notes.txt (a file beside the class folders)",
                                        "unsorted/ (no images)"]
    summary = "\n".join(inventory.summary())
    assert "40 images/volumes of 40 patients: 24 normal, 8 hemorrhage, 8 stroke" in summary
    assert "Not used (3): " in summary and "notes.txt" in summary


def test_a_folder_without_normal_images_is_an_error(tmp_path):
    _write_class_folders(tmp_path, (("hemorrhage", True, 2), ("stroke", True, 2)))
    with pytest.raises(AnomalyDetectError, match=r"sub-folders hemorrhage/, stroke/ but none of normal images: name the folder.*normal/"):
        discover_data(str(tmp_path))
    (tmp_path / "healthy").mkdir()
    with pytest.raises(AnomalyDetectError, match="normal folder .*healthy' holds no images"):
        discover_data(str(tmp_path))


def test_file_names_say_which_images_share_a_patient(tmp_path):
    for folder, names in (("normal", ["p1_000", "p1_001", "p2_000", "p3_004"]), ("tumour", ["p1_002", "p4_010"])):
        (tmp_path / folder).mkdir()
        for seed, name in enumerate(names):
            _write_slice(tmp_path / folder / f"{name}.png", seed, folder == "tumour")
    inventory = discover_data(str(tmp_path))
    assert inventory.patients_from_file_names
    assert sorted(case.patient for case in inventory.cases) == ["p1", "p1", "p1", "p2", "p3", "p4"]
    assert "of 4 patients (grouped by file name <patient>_<number>)" in inventory.summary()[0]
    names = tmp_path / "names"  # one prefix shared by every image is a naming scheme, not a patient
    names.mkdir()
    (names / "normal").mkdir()
    for seed in range(3):
        _write_slice(names / "normal" / f"img_{seed}.png", seed, False)
    assert sorted(case.patient for case in discover_data(str(names)).cases) == ["normal/img_0", "normal/img_1", "normal/img_2"]


def test_split_is_stratified_by_class_and_by_patient(class_folders, tmp_path):
    cases = discover_data(class_folders).cases
    train, validation, test = split_by_patient(cases, 0.25, seed=0, test_fraction=0.25)
    for side in (validation, test):
        assert {case.label_name for case in side} == {"normal", "hemorrhage", "stroke"}
    assert [sum(c.label == 0 for c in side) for side in (train, validation, test)] == [12, 6, 6]
    assert [sum(c.label_name == "stroke" for c in side) for side in (train, validation, test)] == [4, 2, 2]
    assert split_by_patient(cases, 0.25, seed=0, test_fraction=0.25) == (train, validation, test)
    # A patient with normal and abnormal images lands on one side, in its abnormal class's stratum.
    for folder, names in (("normal", [f"p{k}_0" for k in range(10)]), ("bleed", ["p0_1", "p1_1", "p2_1", "p3_1"])):
        (tmp_path / folder).mkdir()
        for seed, name in enumerate(names):
            _write_slice(tmp_path / folder / f"{name}.png", seed, folder == "bleed")
    train, validation, test = split_by_patient(discover_data(str(tmp_path)).cases, 0.25, seed=1, test_fraction=0.25)
    sides = [{c.patient for c in side} for side in (train, validation, test)]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert all(any(c.label == 1 for c in side) and any(c.label == 0 for c in side) for side in (validation, test))


def test_fit_trains_on_normal_images_only_and_reports_image_metrics(folder_bundle, class_folders):
    out, manifest = folder_bundle
    training = manifest["training"]
    assert training["data_layout"] == "class folders"
    assert training["class_counts"]["training"] == {"normal": 12, "hemorrhage": 4, "stroke": 4}
    assert training["normal_training_slices"] == 12, "the 8 abnormal training images are not trained on"
    assert "abnormal_training_slices" not in training
    assert manifest["normalisation"] == EIGHT_BIT_CT.to_config(), "8-bit PNG 'CT' is scaled by 0-255, not an HU window"
    metrics = read_manifest(out)["validation_metrics"]
    assert metrics["image_n_pos"] == 4 and metrics["image_n_neg"] == 6
    assert 0.0 <= metrics["image_auroc"] <= 1.0 and 0.0 <= metrics["image_ap"] <= 1.0
    assert set(metrics["image_per_class"]) == {"hemorrhage", "stroke"}
    assert any("pixel metrics" in note and "need masks" in note for note in metrics["notes"])


def test_fit_prints_the_data_report_and_validation_image_auroc(class_folders, tmp_path, capsys):
    code = trainer_main(["fit", "--method", "skipganomaly", "--data", class_folders, "--out", str(tmp_path / "m.safetensors"),
                         "--modality", "CT", "--input-size", "32", "--batch-size", "4", "--max-steps", "2", "--device", "cpu",
                         "--validation-fraction", "0.25", "--architecture", json.dumps(TINY_ARCHITECTURE)])
    assert code == 0
    out = capsys.readouterr().out
    assert "24 normal, 8 hemorrhage, 8 stroke" in out and "Not used (3)" in out
    assert "12 abnormal training slices are not trained on" in out
    assert "8-bit 2D images" in out
    assert '"image_auroc": ' in out.splitlines()[-1] and '"image_ap": ' in out.splitlines()[-1]


def test_evaluate_reports_image_metrics_on_the_default_split(folder_bundle, class_folders, tmp_path, capsys):
    out_json, roc = str(tmp_path / "metrics.json"), str(tmp_path / "roc.png")
    code = trainer_main(["evaluate", "--model", folder_bundle[0], "--data", class_folders, "--device", "cpu",
                         "--out-json", out_json, "--roc-png", roc])
    assert code == 0
    printed = capsys.readouterr()
    metrics = json.load(open(out_json))
    assert metrics["cases"] == 10 and metrics["image_n_neg"] == 6 and metrics["image_n_pos"] == 4
    assert {row["class"] for row in metrics["images"]} == {"normal", "hemorrhage", "stroke"}
    assert set(metrics["images"][0]) == {"image", "patient", "label", "class", "score", "flagged"}
    assert os.path.getsize(roc) > 1000
    headline = json.loads(printed.out[printed.out.index("{"): printed.out.rindex("}") + 1])
    assert 0.0 <= headline["image_auroc"] <= 1.0 and set(headline["image_auroc_per_class"]) == {"hemorrhage", "stroke"}
    low, high = headline["image_auroc_ci95"]
    assert low <= headline["image_auroc"] <= high
    assert "pixel_auroc" not in headline
    assert "note: No pixel masks in this data: pixel metrics" in printed.out
    assert "warning" not in printed.err


def test_split_all_warns_that_it_includes_training_images(folder_bundle, class_folders, capsys):
    assert trainer_main(["evaluate", "--model", folder_bundle[0], "--data", class_folders, "--device", "cpu", "--split", "all"]) == 0
    err = capsys.readouterr().err
    assert "warning: --split all includes 20 patients the model was trained on" in err


def test_one_class_evaluation_is_a_note_and_roc_png_a_one_line_error(folder_bundle, tmp_path, capsys):
    (tmp_path / "only_normal").mkdir()
    data = _write_class_folders(tmp_path / "only_normal", (("normal", False, 3),))
    out_json = str(tmp_path / "metrics.json")
    assert trainer_main(["evaluate", "--model", folder_bundle[0], "--data", data, "--device", "cpu", "--split", "all",
                         "--out-json", out_json]) == 0
    printed = capsys.readouterr().out
    assert "note: AUROC, AP and Youden threshold undefined: only one class present (0 positive, 3 negative)." in printed
    assert json.load(open(out_json))["image_auroc"] is None
    os.remove(out_json)
    roc = str(tmp_path / "roc.png")
    code = trainer_main(["evaluate", "--model", folder_bundle[0], "--data", data, "--device", "cpu", "--split", "all",
                         "--out-json", out_json, "--roc-png", roc])
    err = capsys.readouterr().err
    assert code == 2
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert error_lines == ["error: --roc-png needs normal and abnormal images or slices; this evaluation set has 3 normal and 0 abnormal. "
                           "Evaluate on data with both (for a bundle's held-out patients: --split validation or test)."]
    assert "Traceback" not in err
    assert not os.path.exists(roc) and not os.path.exists(out_json), "nothing is written when the evaluation cannot be done"


def test_eight_bit_ct_images_get_the_full_grey_range(class_folders, phantom_dataset):
    cases = discover_data(class_folders).cases
    normaliser, note = choose_normaliser("CT", cases)
    assert normaliser == EIGHT_BIT_CT and "not Hounsfield units" in note
    assert choose_normaliser("MR", cases)[0].kind == "mr_percentile"
    volumes = discover_data(phantom_dataset).cases
    assert choose_normaliser("CT", volumes) == (choose_normaliser("CT", [])[0], None), "volumes keep the HU window"
    assert choose_normaliser("CT", cases, {"high_hu": 200})[0].high_hu == 200.0
    with pytest.raises(AnomalyDetectError, match="Unknown normalisation settings"):
        choose_normaliser("CT", cases, {"window": 3})
    scaled = normaliser.fit(np.zeros(1)).apply(np.array([0.0, 127.5, 255.0]))
    np.testing.assert_allclose(scaled, [0.0, 0.5, 1.0])


def test_bootstrap_interval_brackets_the_auroc_and_keeps_both_classes():
    from sklearn.metrics import roc_auc_score

    from trainer.metrics import bootstrap_interval

    rng = np.random.default_rng(4)
    labels = np.repeat([0, 1], 30)
    scores = rng.normal(size=60) + 0.8 * labels
    interval = bootstrap_interval(labels, scores, repeats=500)
    low, high = interval["auroc_ci"]
    assert low < roc_auc_score(labels, scores) < high and 0.1 < high - low < 0.4
    assert interval["ap_ci"][0] < interval["ap_ci"][1]
    assert bootstrap_interval(labels, 3.0 * labels, repeats=50)["auroc_ci"] == [1.0, 1.0], "every replicate holds both classes"
    assert bootstrap_interval(np.zeros(5), np.arange(5.0))["auroc_ci"] is None


def test_a_volume_folder_reports_what_it_does_not_use(tmp_path):
    from conftest import write_phantom_dataset

    data = write_phantom_dataset(tmp_path / "volumes", count=3, shape=(6, 24, 24))
    (tmp_path / "volumes" / "patients.csv").write_text("patient\n")
    (tmp_path / "volumes" / "labels").mkdir()
    inventory = discover_data(data)
    assert inventory.layout == "volumes" and len(inventory.cases) == 3 and all(case.mask for case in inventory.cases)
    assert inventory.unused == ["labels/ (a folder)", "patients.csv (not an image or volume)"]
    assert inventory.class_counts() == {"per-slice (masks)": 3}
    train, validation, test = split_by_patient(inventory.cases, 0.3, seed=0)
    assert (len(train), len(validation), len(test)) == (2, 1, 0), "mask-labelled volumes: one stratum, the unstratified rule"
