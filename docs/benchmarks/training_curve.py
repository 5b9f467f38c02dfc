"""Training-length curve and seed spread for the bundled LGG translation recipe (issue 12, levers 3 and 4).

Trains the bundled recipe in chunks (``--max-steps`` 120, 240, ... with ``--resume``) and keeps the bundle
that each chunk ends with: the weights a user would get had training stopped there (the checkpoint with the
lowest normal-slice validation loss so far, calibrated on the normal validation slices). The patient split is
fixed (``--split-seed 0``: the bundle's split); ``--seed`` changes only the weights, the slice order and the
augmentation, so several seeds measure the spread of the recipe on the same validation patients.

    python docs/benchmarks/training_curve.py --data ../shared/data/lgg_flair --out-dir curve --seed 1 --steps 720
    python docs/benchmarks/training_curve.py --out-dir curve --report     # the table, from the saved bundles
    # the recipe with the in-lesion terms (the trainer's default since; "lesion" rows of docs/BENCHMARKS.md)
    python docs/benchmarks/training_curve.py --out-dir curve --seed 1 --steps 360 --tag lesion \
        --fit-args "--training '{\"lesion_weight\": 10.0, \"attention_supervision\": 1.0}'"
    # lever 2, resolution at today's cost per step: 64×64 crops of 128×128 slices, whole slices at detection
    python docs/benchmarks/training_curve.py --out-dir curve --seed 1 --steps 360 --tag res128 \
        --fit-args "--input-size 128 --crop-size 64 --training '{\"lesion_weight\": 10.0, \"attention_supervision\": 1.0}'"

Re-running continues where it stopped (finished chunks are skipped, the last checkpoint is resumed). The
validation metrics printed are those each bundle's manifest carries (validation patients only).
"""

import argparse
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [os.path.join(ROOT, "AnomalyDetect"), ROOT]

from AnomalyDetectLib.bundle import read_manifest  # noqa: E402

# The bundled default's recipe ("Reproducing the bundle" in docs/BENCHMARKS.md) with the scoring it ships with.
RECIPE = [
    "--method", "translation", "--epochs", "40", "--test-fraction", "0.2", "--split-seed", "0",
    "--architecture", json.dumps({"base_channels": 8, "n_res_blocks": 2}),
    # (the in-lesion terms, on by default since, were not part of it)
    "--training", json.dumps({"pseudo_lesion": {"foreground_threshold": 0.02}, "lesion_weight": 0, "attention_supervision": 0}),
    "--scoring", json.dumps({"map": "residual_brighter", "interior_erosion_mm": 10,
                             "intensity_weighting": {"direction": "brighter", "offset_sd": 1.0}}),
]


def snapshot_path(out_dir: str, seed: int, step: int, tag: str = "") -> str:
    return os.path.join(out_dir, f"{tag + '_' if tag else ''}seed{seed}_step{step:04d}.safetensors")


def train(args) -> None:
    os.makedirs(args.out_dir, exist_ok=True)
    work = snapshot_path(args.out_dir, args.seed, 0, args.tag).replace("_step0000", "_work")
    for target in range(args.chunk, args.steps + 1, args.chunk):
        snapshot = snapshot_path(args.out_dir, args.seed, target, args.tag)
        if os.path.exists(snapshot):
            continue
        command = [sys.executable, "-m", "trainer", "fit", *RECIPE, "--data", args.data, "--out", work,
                   "--seed", str(args.seed), "--max-steps", str(target), "--checkpoint-every", str(args.chunk),
                   "--threads", str(args.threads), "--quiet", *shlex.split(args.fit_args)]
        if os.path.exists(work + ".checkpoint.pt"):
            command.append("--resume")
        print(f"seed {args.seed}: training to step {target}", flush=True)
        subprocess.run(command, check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": os.pathsep.join([os.path.join(ROOT, "AnomalyDetect"), ROOT])})
        shutil.copyfile(work, snapshot + ".partial")
        os.replace(snapshot + ".partial", snapshot)


def plot(out_dir: str, rows, path: str) -> None:
    """Normal-slice validation loss (every validation in the logs) and the snapshots' validation tumour figures, against steps."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    colours = {}

    def colour(run: str):
        return colours.setdefault(run, f"C{len(colours)}")

    for log in sorted(glob.glob(os.path.join(out_dir, "*_work.safetensors.log.csv"))):
        run = os.path.basename(log).split("_work")[0]
        run = run if "_" in run else "default_" + run
        with open(log) as handle:
            points = [(int(r["step"]), float(r["validation_loss"])) for r in csv.DictReader(handle) if r.get("validation_loss")]
        if points:
            left.plot(*zip(*points), marker=".", color=colour(run), label=run.replace("_", " "))
    left.set(xlabel="training steps", ylabel="selection loss (log scale)", yscale="log",
             title="normal validation slices (no tumour labels)")
    left.legend(fontsize=7)
    series = {}
    for tag, _, seed, step, _, _, slice_auroc, _, pixel_auroc, *_ in sorted(rows):
        series.setdefault(f"{tag}_seed{seed}", []).append((step, slice_auroc, pixel_auroc))
    for run, points in series.items():
        steps, slice_auroc, pixel_auroc = zip(*points)
        right.plot(steps, slice_auroc, marker="o", color=colour(run))
        right.plot(steps, pixel_auroc, marker="s", linestyle="--", color=colour(run))
    right.plot([], [], "ko-", label="slice AUROC")
    right.plot([], [], "ks--", label="pixel AUROC")
    right.set(xlabel="training steps", ylabel="AUROC, validation patients", title="tumour figures (for the record; not used to select)")
    right.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    print(f"wrote {path}")


def report(out_dir: str, plot_path: str = None) -> None:
    rows = []
    for path in glob.glob(os.path.join(out_dir, "*seed*_step*.safetensors")):
        tag, seed, step = re.findall(r"^(.*?)_?seed(\d+)_step(\d+)", os.path.basename(path))[0]
        seed, step = int(seed), int(step)
        manifest = read_manifest(path)
        metrics, training = manifest["validation_metrics"], manifest["training"]
        rows.append((tag or "default", manifest["input_size"], seed, step, training["selected_step"],
                     training["selected_validation_loss"], metrics["slice_auroc"],
                     metrics["position_matched_auroc"], metrics["pixel_auroc"], metrics["pixel_dice"],
                     metrics["slice_sensitivity"], metrics["slice_specificity"], training["training_seconds"]))
    print("| recipe | input | seed | steps | kept step | normal val. loss | slice AUROC | pos.-matched | pixel AUROC | Dice "
          "| sens. | spec. | train min |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in sorted(rows):
        tag, size, seed, step, kept, loss, *figures, seconds = row
        print(f"| {tag} | {size} | {seed} | {step} | {kept} | {loss:.5f} | " + " | ".join(f"{v:.3f}" for v in figures) + f" | {seconds / 60:.1f} |")
    if plot_path:
        plot(out_dir, rows, plot_path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "lgg_flair"))
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--steps", type=int, default=720)
    parser.add_argument("--chunk", type=int, default=120)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tag", default="", help="name of a variant of the recipe (prefix of its bundles)")
    parser.add_argument("--fit-args", default="", help="extra arguments for trainer fit, e.g. \"--input-size 128 --crop-size 64\"")
    parser.add_argument("--plot", default=None, help="also draw the curves to this PNG")
    parser.add_argument("--report", action="store_true", help="only print the table of the saved bundles")
    args = parser.parse_args()
    if not args.report:
        train(args)
    report(args.out_dir, args.plot)


if __name__ == "__main__":
    main()
