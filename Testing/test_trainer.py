"""The trainer: data discovery, patient split, reproducible and resumable fit, evaluate."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from AnomalyDetectLib.bundle import load_bundle, read_manifest
from AnomalyDetectLib.errors import AnomalyDetectError
from AnomalyDetectLib.phantom import make_head_phantom
from conftest import TINY_ARCHITECTURE, write_phantom_dataset

from trainer.cli import main as trainer_main
from trainer.data import discover_cases, split_by_patient
from trainer.fit import FitConfig, checkpoint_path, fit, log_path


def test_discovers_volume_and_mask_pairs(phantom_dataset):
    cases = discover_cases(phantom_dataset)
    assert len(cases) == 10
    assert all(case.mask and case.mask.endswith("_mask.nii.gz") for case in cases)
    assert cases[0].patient == "case000"


def test_discovers_normal_and_abnormal_image_folders(tmp_path):
    for label in ("normal", "abnormal"):
        (tmp_path / label).mkdir()
        for index in range(3):
            image = (np.random.default_rng(index).random((20, 30)) * 255).astype(np.uint8)
            sitk.WriteImage(sitk.GetImageFromArray(image), str(tmp_path / label / f"{index}.png"))
    cases = discover_cases(str(tmp_path))
    assert sorted(case.label for case in cases) == [0, 0, 0, 1, 1, 1]
    assert len({case.patient for case in cases}) == 6


def test_csv_manifest(tmp_path, phantom_dataset):
    manifest = tmp_path / "cases.csv"
    manifest.write_text(
        "image,mask,label,patient\n"
        f"{phantom_dataset}/case000_flair.nii.gz,,normal,p0\n"
        f"{phantom_dataset}/case001_flair.nii.gz,{phantom_dataset}/case001_mask.nii.gz,,p1\n"
    )
    cases = discover_cases(str(manifest))
    assert [(c.label, c.patient, bool(c.mask)) for c in cases] == [(0, "p0", False), (None, "p1", True)]
    manifest.write_text("image,label\nx.nii.gz,maybe\n")
    with pytest.raises(AnomalyDetectError, match="maybe"):
        discover_cases(str(manifest))


def test_split_is_by_patient_and_deterministic(phantom_dataset):
    cases = discover_cases(phantom_dataset)
    train, validation, test = split_by_patient(cases, 0.3, seed=0)
    assert not {c.patient for c in train} & {c.patient for c in validation}
    assert len(validation) == 3 and len(train) == 7 and test == []
    assert split_by_patient(cases, 0.3, seed=0) == (train, validation, test)
    assert split_by_patient(cases, 0.3, seed=1) != (train, validation, test)
    train, validation, test = split_by_patient(cases, 0.2, seed=0, test_fraction=0.2)
    assert (len(train), len(validation), len(test)) == (6, 2, 2)
    assert len({c.patient for c in train} | {c.patient for c in validation} | {c.patient for c in test}) == 10
    with pytest.raises(AnomalyDetectError, match="too few"):
        split_by_patient(cases, 0.5, seed=0, test_fraction=0.5)


def test_csv_manifest_can_fix_the_split(tmp_path, phantom_dataset):
    manifest = tmp_path / "cases.csv"
    rows = [f"{phantom_dataset}/case00{k}_flair.nii.gz,p{k},{side}\n" for k, side in enumerate(["training", "Validation", "training", "test"])]
    manifest.write_text("image,patient,split\n" + "".join(rows))
    train, validation, test = split_by_patient(discover_cases(str(manifest)), 0.9, seed=5, test_fraction=0.9)
    assert [c.patient for c in train] == ["p0", "p2"] and [c.patient for c in validation] == ["p1"] and [c.patient for c in test] == ["p3"]
    manifest.write_text("image,patient,split\n" + rows[0] + f"{phantom_dataset}/case001_flair.nii.gz,p1,\n")
    with pytest.raises(AnomalyDetectError, match="some cases only"):
        split_by_patient(discover_cases(str(manifest)), 0.3, seed=0)
    manifest.write_text("image,patient,split\n" + rows[0] + f"{phantom_dataset}/case001_flair.nii.gz,p0,validation\n")
    with pytest.raises(AnomalyDetectError, match="more than one split"):
        split_by_patient(discover_cases(str(manifest)), 0.3, seed=0)
    manifest.write_text("image,split\nx.nii.gz,train\n")
    with pytest.raises(AnomalyDetectError, match="'train' is not one of"):
        discover_cases(str(manifest))
    manifest.write_text("image,patient,split\n" + rows[0])
    with pytest.raises(AnomalyDetectError, match="at least one training and one validation"):
        split_by_patient(discover_cases(str(manifest)), 0.3, seed=0)


def test_fitted_bundle_records_selection_and_thresholds(trained_bundle_path):
    manifest = read_manifest(trained_bundle_path)
    training = manifest["training"]
    assert not set(training["training_patients"]) & set(training["validation_patients"])
    assert training["selection"].startswith("lowest reconstruction loss on normal validation")
    assert manifest["thresholds"]["slice"] > 0 and manifest["thresholds"]["pixel"] > 0
    assert manifest["calibration"]["centres"] and len(manifest["calibration"]["medians"]) == len(manifest["calibration"]["centres"])
    assert manifest["validation_metrics"]["slice_auroc"] is not None
    assert os.path.exists(log_path(trained_bundle_path)) and os.path.exists(checkpoint_path(trained_bundle_path))


def test_bundles_describe_their_data_without_local_paths(trained_bundle_path, phantom_dataset, tmp_path):
    import hashlib
    import shutil

    from trainer.data import describe_data

    manifest = read_manifest(trained_bundle_path)
    text = json.dumps(manifest)
    assert os.path.abspath(phantom_dataset) not in text and str(tmp_path.parent) not in text, "no local path in a shared bundle"
    data = manifest["training"]["data"]
    assert data["name"] == os.path.basename(phantom_dataset) and data["volumes"] == data["patients"] == 10 and data["files"] == 20
    listing = "\n".join(sorted(f"case{i:03d}_{kind}.nii.gz" for i in range(10) for kind in ("flair", "mask")))
    assert data["file_list_sha256"] == hashlib.sha256(listing.encode()).hexdigest()
    moved = str(tmp_path / "elsewhere" / os.path.basename(phantom_dataset))
    shutil.copytree(phantom_dataset, moved)
    assert describe_data(moved, discover_cases(moved)) == data, "the same data gives the same description wherever it sits"


def _config(data, out, **changes):
    values = dict(method="skipganomaly", data=data, out=out, input_size=32, epochs=50, batch_size=8, validation_fraction=0.3,
                  seed=3, device="cpu", architecture=dict(TINY_ARCHITECTURE), checkpoint_every=4, quiet=True)
    values.update(changes)
    return FitConfig(**values)


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    return write_phantom_dataset(tmp_path_factory.mktemp("small"), count=5, shape=(12, 32, 32))


def _checkpoint_weights(out):
    return torch.load(checkpoint_path(out), weights_only=True)["networks"]


def test_fit_is_reproducible_and_resume_continues_exactly(small_dataset, tmp_path):
    straight = str(tmp_path / "straight.safetensors")
    fit(_config(small_dataset, straight, max_steps=12))
    again = str(tmp_path / "again.safetensors")
    fit(_config(small_dataset, again, max_steps=12))
    for name, value in _checkpoint_weights(straight).items():
        assert torch.equal(value, _checkpoint_weights(again)[name]), f"{name} differs between identical runs"

    interrupted = str(tmp_path / "interrupted.safetensors")
    fit(_config(small_dataset, interrupted, max_steps=8))
    os.remove(interrupted)  # as if killed after the step-8 checkpoint, before the bundle
    seconds_before = torch.load(checkpoint_path(interrupted), weights_only=True)["training_seconds"]
    resumed = fit(_config(small_dataset, interrupted, max_steps=12, resume=True))
    assert resumed["training"]["training_seconds"] >= round(seconds_before, 1) > 0, "the time before the checkpoint counts"
    for name, value in _checkpoint_weights(straight).items():
        assert torch.equal(value, _checkpoint_weights(interrupted)[name]), f"{name} differs after resume"
    steps = [int(line.split(",")[0]) for line in open(log_path(interrupted)).read().splitlines()[1:]]
    assert steps == list(range(1, 13)), "the loss log holds each step once"
    straight_tensors, resumed_tensors = load_bundle(straight).tensors, load_bundle(interrupted).tensors
    assert all(np.array_equal(straight_tensors[n], resumed_tensors[n]) for n in straight_tensors)


def test_resume_without_checkpoint_is_an_error(small_dataset, tmp_path):
    with pytest.raises(AnomalyDetectError, match="no checkpoint"):
        fit(_config(small_dataset, str(tmp_path / "none.safetensors"), max_steps=2, resume=True))


def test_fit_rejects_unwritable_output(small_dataset, tmp_path):
    with pytest.raises(AnomalyDetectError, match="not writable|does not exist"):
        fit(_config(small_dataset, str(tmp_path / "missing" / "m.safetensors"), max_steps=2))


def test_evaluate_cli_writes_metrics_and_roc(trained_bundle_path, phantom_dataset, tmp_path, capsys):
    out_json, roc = str(tmp_path / "metrics.json"), str(tmp_path / "roc.png")
    code = trainer_main(["evaluate", "--model", trained_bundle_path, "--data", phantom_dataset, "--device", "cpu",
                         "--out-json", out_json, "--roc-png", roc])
    assert code == 0
    metrics = json.load(open(out_json))
    assert metrics["cases"] == 3, "only the bundle's validation patients are evaluated by default"
    assert 0.0 <= metrics["slice_auroc"] <= 1.0 and 0.0 <= metrics["pixel_auroc"] <= 1.0
    assert "best_dice_oracle" in " ".join(metrics)
    assert os.path.getsize(roc) > 1000
    assert "slice_auroc" in capsys.readouterr().out


def test_trainer_cli_reports_errors_in_one_line(tmp_path, capsys):
    code = trainer_main(["fit", "--method", "skipganomaly", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "m.safetensors")])
    assert code == 2
    assert "neither a folder nor a CSV" in capsys.readouterr().err


def test_calibrate_changes_scoring_but_not_weights(trained_bundle_path, phantom_dataset, tmp_path, capsys):
    out = str(tmp_path / "recalibrated.safetensors")
    code = trainer_main(["calibrate", "--model", trained_bundle_path, "--data", phantom_dataset, "--out", out,
                         "--scoring", '{"map": "residual"}', "--device", "cpu"])
    assert code == 0
    original, recalibrated = load_bundle(trained_bundle_path), load_bundle(out)
    assert recalibrated.manifest["scoring"]["map"] == "residual"
    assert original.manifest["scoring"]["map"] != "residual"
    assert recalibrated.manifest["thresholds"]["pixel"] != original.manifest["thresholds"]["pixel"]
    assert recalibrated.manifest["training"] == original.manifest["training"]
    for name, value in original.tensors.items():
        np.testing.assert_array_equal(recalibrated.tensors[name], value)
    assert '"map": "residual"' in capsys.readouterr().out
    assert trainer_main(["calibrate", "--model", trained_bundle_path, "--data", phantom_dataset, "--out", out,
                         "--scoring", '{"map": "colour"}']) == 2


def test_fit_and_detect_on_a_folder_of_2d_images(tmp_path):
    """The input shape of a user with exported PNG slices: normal/ and abnormal/ folders."""
    from AnomalyDetectLib.pipeline import detect
    from AnomalyDetectLib.volume import read_volume

    for label, lesion, count in (("normal", False, 10), ("abnormal", True, 4)):
        (tmp_path / label).mkdir()
        for seed in range(count):
            volume, _ = make_head_phantom(seed=seed + (50 if lesion else 0), shape=(3, 40, 52), lesion=lesion)
            sitk.WriteImage(sitk.GetImageFromArray(volume.voxels[1]), str(tmp_path / label / f"{seed}.png"))
    out = str(tmp_path / "png_model.safetensors")
    manifest = fit(_config(str(tmp_path), out, max_steps=6, batch_size=2))
    assert manifest["training"]["normal_training_slices"] > 0
    assert all(p.startswith(("normal/", "abnormal/")) for p in manifest["training"]["validation_patients"])
    image = read_volume(str(tmp_path / "abnormal" / "0.png"))
    result = detect(image, load_bundle(out), device="cpu")
    assert result.anomaly_map.shape == (1, 40, 52) and result.slice_scores.shape == (1,)


def test_random_crops_are_windows_of_their_own_image():
    from trainer.augmentation import random_crops

    images = torch.arange(4 * 2 * 10 * 12, dtype=torch.float32).reshape(4, 2, 10, 12)
    crops = random_crops(images, 6, torch.Generator().manual_seed(0))
    assert crops.shape == (4, 2, 6, 6)
    for image, crop in zip(images, crops):
        row, column = divmod(int(crop[0, 0, 0] - image[0, 0, 0]), 12)  # the values encode their position
        assert torch.equal(crop, image[:, row : row + 6, column : column + 6])
    again = random_crops(images, 6, torch.Generator().manual_seed(0))
    assert torch.equal(crops, again), "the same generator state gives the same crops (resume repeats them)"


def test_gamma_augmentation_changes_contrast_within_its_range_and_only_when_asked():
    from trainer.augmentation import augment

    images = torch.linspace(0.0, 1.0, 8 * 16 * 16).reshape(8, 1, 16, 16)
    plain = augment(images, torch.Generator().manual_seed(5))
    assert torch.equal(plain, augment(images, torch.Generator().manual_seed(5), None)), "no range: the stream is as before"
    contrasted = augment(images, torch.Generator().manual_seed(5), (0.5, 2.0))
    assert torch.equal(contrasted, augment(images, torch.Generator().manual_seed(5), (0.5, 2.0))), "resume repeats it"
    assert float(contrasted.min()) >= 0.0 and float(contrasted.max()) <= 1.0
    # Where the plain image is strictly inside (0, 1), log(contrasted) / log(plain) is the image's power.
    inside = (plain > 0.05) & (plain < 0.95)
    powers = [float((torch.log(c[i]) / torch.log(p[i])).mean()) for c, p, i in zip(contrasted, plain, inside)]
    ratios = [float((torch.log(c[i]) / torch.log(p[i])).std()) for c, p, i in zip(contrasted, plain, inside)]
    assert all(0.5 - 1e-4 <= g <= 2.0 + 1e-4 for g in powers) and max(ratios) < 1e-3, "one power per image, inside the range"
    assert min(powers) < 0.9 and max(powers) > 1.1, "eight draws over [0.5, 2] both brighten and darken"


def test_fit_records_gamma_augmentation_and_refuses_a_bad_range(small_dataset, tmp_path):
    out = str(tmp_path / "gamma.safetensors")
    manifest = fit(_config(small_dataset, out, max_steps=2, gamma_augmentation=(0.7, 1.4)))
    assert manifest["training"]["gamma_augmentation"] == [0.7, 1.4]
    assert "gamma_augmentation" not in fit(_config(small_dataset, str(tmp_path / "plain.safetensors"), max_steps=2))["training"]
    for bad in ((1.2, 1.4), (0.0, 1.4), (0.7, 9.0)):
        with pytest.raises(AnomalyDetectError, match="gamma-augmentation"):
            fit(_config(small_dataset, str(tmp_path / "bad.safetensors"), max_steps=2, gamma_augmentation=bad))
    assert not os.path.exists(tmp_path / "bad.safetensors")


def test_histogram_standardisation_is_fitted_on_training_patients_only(small_dataset, tmp_path):
    from AnomalyDetectLib.pipeline import detect
    from AnomalyDetectLib.preprocess import MRHistogram, fit_histogram_standard, normaliser_from_config
    from AnomalyDetectLib.volume import read_volume

    from trainer.normalisation import choose_normaliser

    out = str(tmp_path / "histogram.safetensors")
    manifest = fit(_config(small_dataset, out, max_steps=2, normalisation={"kind": "mr_histogram"}))
    stored = normaliser_from_config(manifest["normalisation"])
    cases = {case.patient: case for case in discover_cases(small_dataset)}
    training = [read_volume(cases[p].image).voxels for p in manifest["training"]["training_patients"]]
    assert stored == fit_histogram_standard(MRHistogram(), training), "the standard scale comes from the training patients"
    everyone = fit_histogram_standard(MRHistogram(), [read_volume(c.image).voxels for c in cases.values()])
    assert stored != everyone, "validation patients do not shape it"
    patient = manifest["training"]["validation_patients"][0]
    result = detect(read_volume(cases[patient].image), load_bundle(out), device="cpu")
    assert np.isfinite(result.anomaly_map).all() and result.slice_scores.shape == (12,)
    with pytest.raises(AnomalyDetectError, match="not available for CT"):
        choose_normaliser("CT", [], {"kind": "mr_histogram"})
