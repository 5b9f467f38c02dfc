"""The BL1–BL8 ablation of the translation method on ../shared/data/lgg_flair (validation patients).

    python docs/benchmarks/translation_ablation.py --data ../shared/data/lgg_flair --work WORK \
        [--rows BL8,BL2,...] [--max-steps 200] [--seed 0] [--threads 1]
    python docs/benchmarks/translation_ablation.py --data ../shared/data/lgg_flair --work WORK --table

Each row trains one model with ``python -m trainer fit`` (same split, seed, step budget and
width for every row; the flags of models/translation/README.md), re-calibrates it for each map
(``python -m trainer calibrate``: thresholds and level calibration from NORMAL validation slices
only) and scores the 16 validation patients with ``benchmark_lgg.py --split validation``. BL4 and
BL5 differ only in the map, so they share one trained model. Finished steps are skipped, so the
rows can be split between processes (``--rows``) and a run can be resumed. ``--table`` prints the
markdown table from the JSON results found in WORK.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# row -> (trained model it uses, architecture, training)
ROWS = {
    "BL1": ("BL1", {"attention": "none", "discriminator": "patch"}, {"domain_y": "weak"}),
    "BL2": ("BL2", {"attention": "none", "discriminator": "patch"}, {"domain_y": "pseudo"}),
    "BL3": ("BL3", {"attention": "none", "discriminator": "unet"}, {"domain_y": "weak"}),
    "BL4": ("BL4", {"attention": "none", "discriminator": "unet"}, {"domain_y": "pseudo"}),
    "BL5": ("BL4", None, None),
    "BL6": ("BL6", {"attention": "global", "discriminator": "unet"}, {"domain_y": "pseudo"}),
    "BL7": ("BL7", {"attention": "local", "discriminator": "unet"}, {"domain_y": "pseudo"}),
    "BL8": ("BL8", {"attention": "both", "discriminator": "unet"}, {"domain_y": "pseudo"}),
}
# Every trained model is scored with every map; the row's own map is the one its flags name
# (RE_mGMSD: BL5 onwards), the others are reported beside it as the seed does. "residual" is
# |y − G(y)| (the seed's MSE column), "mgmsd" the multi-scale GMS deviation, "mgmsd_brighter"
# the mGMSD where the slice is brighter than its translation (the bundled model's map).
MAPS = ("residual", "mgmsd", "mgmsd_brighter")
LABELS = {"residual": "residual", "mgmsd": "mGMSD", "mgmsd_brighter": "mGMSD brighter"}
WIDTH = {"base_channels": 8, "n_res_blocks": 2}


def run(command) -> None:
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def train(model: str, args) -> str:
    path = os.path.join(args.work, f"{model}_seed{args.seed}.safetensors")
    if os.path.exists(path):
        return path
    _, architecture, training = ROWS[model]
    run([sys.executable, "-m", "trainer", "fit", "--method", "translation", "--data", args.data, "--out", path,
         "--epochs", "40", "--max-steps", str(args.max_steps), "--test-fraction", "0.2", "--threads", str(args.threads),
         "--seed", str(args.seed), "--quiet",
         "--architecture", json.dumps(dict(WIDTH, **architecture)), "--training", json.dumps(training),
         "--scoring", json.dumps({"map": "mgmsd", "interior_erosion_mm": 10})])
    return path


def score(model_path: str, map_name: str, args) -> str:
    stem = model_path[: -len(".safetensors")]
    result = f"{stem}_{map_name}.json"
    if os.path.exists(result):
        return result
    calibrated = f"{stem}_{map_name}.safetensors"
    run([sys.executable, "-m", "trainer", "calibrate", "--model", model_path, "--data", args.data, "--out", calibrated,
         "--scoring", json.dumps({"map": map_name, "interior_erosion_mm": 10})])
    run([sys.executable, os.path.join(HERE, "benchmark_lgg.py"), "--data", args.data, "--split", "validation",
         "--model", calibrated, "--out-json", result + ".part"])
    os.replace(result + ".part", result)
    return result


def table(args) -> str:
    keys = (("slice_auroc", "slice AUROC"), ("pixel_auroc", "pixel AUROC"), ("pixel_dice", "Dice"))
    header = [f"{what} {LABELS[m]}" for _, what in keys for m in MAPS]
    lines = ["| baseline | seed | steps (selected) | training min | " + " | ".join(header) + " |",
             "|---|---|---|---|" + "---|" * len(header)]
    seeds = sorted({name.split("_seed")[1].split("_")[0].split(".")[0] for name in os.listdir(args.work) if "_seed" in name})
    for seed in seeds:
        for row, (model, _, _) in ROWS.items():
            stem = os.path.join(args.work, f"{model}_seed{seed}")
            found = {m: f"{stem}_{m}.json" for m in MAPS}
            if not any(os.path.exists(p) for p in found.values()):
                continue
            results = {m: json.load(open(p))["model"] if os.path.exists(p) else {} for m, p in found.items()}
            manifest = _manifest(stem + ".safetensors")
            training = manifest["training"]
            cells = [f"{results[m][key]:.3f}" if key in results[m] else "–" for key, _ in keys for m in MAPS]
            lines.append(f"| {row} | {seed} | {training['steps']} ({training.get('selected_step', '?')}) | "
                         f"{training['training_seconds'] / 60:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _manifest(path: str) -> dict:
    sys.path.insert(0, os.path.join(HERE, "..", "..", "AnomalyDetect"))
    from AnomalyDetectLib.bundle import load_bundle

    return load_bundle(path).manifest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--work", required=True, help="folder for the trained bundles and results")
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--max-steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--table", action="store_true", help="only print the table of the results in --work")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    if not args.table:
        for row in args.rows.split(","):
            model = ROWS[row][0]
            path = train(model, args)
            for map_name in MAPS:
                score(path, map_name, args)
    print(table(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
