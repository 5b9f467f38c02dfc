"""Transfer learning from the landmark detector to lesion-vs-normal patch classification.

The seed's claim (Nemoto): features of a CNN pretrained on anatomical landmarks help recognise
lesions from few labelled examples. Here:

* labelled 2.5D patches (same sampling as the landmark model: ``extent_mm``, 32×32, three planes)
  centred on lesion voxels (class 1) and on foreground voxels at least ``margin_mm`` from every
  lesion voxel (class 0), from volumes with lesion masks;
* feature extractors: the landmark model's mini-VGG (``MiniVGG.features``, the 128-long dense
  layer, frozen), and the same architecture with random weights (the control); natural-image
  pretrained weights are not available offline, so that comparison is not made;
* classifier: AdaBoost of decision stumps (as the seed), AUROC on patches of held-out patients as
  the number of weak learners grows; and fine-tuning: the whole network trained a few epochs with
  a new two-class head, from the landmark weights or from random ones.

Patients, not patches, are split: the few training examples come from ``train_patients``
patients, the AUROC from the others.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from AnomalyDetectLib.landmark_detection import sample_patches
from scipy import ndimage
from sklearn.ensemble import AdaBoostClassifier
from sklearn.metrics import roc_auc_score
from sklearn.tree import DecisionTreeClassifier

LEARNER_COUNTS = (1, 2, 5, 10, 20, 50, 100, 200)


def lesion_patches(volume, mask: np.ndarray, normaliser, per_class: int, extent_mm: float, size: int, rng: np.random.Generator,
                   margin_mm: float = 10.0):
    """(patches (n, 3, size, size), labels (n,)): up to ``per_class`` lesion and as many normal-tissue centres of one volume."""
    mask = np.asarray(mask, dtype=bool)
    scale = normaliser.fit(volume.voxels)
    foreground = normaliser.foreground(volume.voxels, scale)
    spacing = np.asarray(volume.spacing)[::-1]  # k, j, i
    far = ndimage.distance_transform_edt(~mask, sampling=spacing) >= margin_mm if mask.any() else np.ones_like(mask)
    picks, labels = [], []
    for label, where in ((1, mask & foreground), (0, foreground & far)):
        kji = np.argwhere(where)
        if len(kji) == 0:
            continue
        chosen = kji[rng.choice(len(kji), min(per_class, len(kji)), replace=False)]
        picks.append(chosen)
        labels.append(np.full(len(chosen), label))
    if not picks:
        return np.empty((0, 3, size, size), np.float32), np.empty(0, int)
    kji = np.concatenate(picks).astype(float)
    ras = kji[:, ::-1] @ volume.ijk_to_ras[:3, :3].T + volume.ijk_to_ras[:3, 3]
    return sample_patches(volume, scale, ras, size, extent_mm), np.concatenate(labels)


@torch.no_grad()
def features(network, patches: np.ndarray, batch_size: int = 256) -> np.ndarray:
    network.eval()
    return np.concatenate([network.features(torch.from_numpy(patches[s : s + batch_size])).numpy()
                           for s in range(0, len(patches), batch_size)])


def boosting_curve(train_x, train_y, test_x, test_y, counts: Sequence[int] = LEARNER_COUNTS, seed: int = 0) -> Dict[int, float]:
    """AUROC on the test patches after each number of decision stumps in ``counts``."""
    model = AdaBoostClassifier(DecisionTreeClassifier(max_depth=1), n_estimators=max(counts), random_state=seed)
    model.fit(train_x, train_y)
    curve = {}
    last = None
    for count, scores in enumerate(model.staged_decision_function(test_x), start=1):
        last = float(roc_auc_score(test_y, scores))
        if count in counts:
            curve[count] = last
    # AdaBoost stops adding learners once the training set is fitted exactly: the ensemble is final.
    return {count: curve.get(count, last) for count in counts}


def fine_tune(network, train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, epochs: int = 20,
              learning_rate: float = 3e-4, seed: int = 0) -> float:
    """Train ``network`` (a MiniVGG, changed in place) with a fresh two-class head; AUROC on the test patches."""
    torch.manual_seed(seed)
    head = torch.nn.Linear(network.head.in_features, 2)
    parameters = list(network.parameters()) + list(head.parameters())
    optimiser = torch.optim.Adam(parameters, lr=learning_rate)
    x, y = torch.from_numpy(train_x), torch.from_numpy(train_y).long()
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        network.train()
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 32):
            chosen = order[start : start + 32]
            loss = F.cross_entropy(head(network.features(x[chosen])), y[chosen])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    network.eval()
    with torch.no_grad():
        scores = torch.softmax(head(network.features(torch.from_numpy(test_x))), 1)[:, 1].numpy()
    return float(roc_auc_score(test_y, scores))


def compare(pretrained, random_init_factory, train_x, train_y, test_x, test_y, seed: int = 0,
            fine_tune_epochs: int = 20, counts: Sequence[int] = LEARNER_COUNTS) -> Dict[str, Dict]:
    """Boosting curves on frozen features and fine-tuned AUROC, landmark-pretrained vs random weights.

    ``pretrained`` is the landmark MiniVGG (left unchanged: fine-tuning works on a copy);
    ``random_init_factory(seed)`` builds the same architecture with random weights.
    """
    import copy

    result: Dict[str, Dict] = {}
    for name, make in (("landmark-pretrained", lambda: copy.deepcopy(pretrained)), ("random init", lambda: random_init_factory(seed))):
        frozen = make()
        curve = boosting_curve(features(frozen, train_x), train_y, features(frozen, test_x), test_y, counts, seed)
        tuned = fine_tune(make(), train_x, train_y, test_x, test_y, fine_tune_epochs, seed=seed) if fine_tune_epochs else None
        result[name] = {"adaboost_auroc_by_learners": curve, "fine_tuned_auroc": tuned}
    return result


def summary_rows(results: List[Dict[str, Dict]], counts: Optional[Sequence[int]] = None) -> List[str]:
    """Markdown rows: mean ± sd over repeats for each extractor."""
    counts = counts or sorted(next(iter(results[0].values()))["adaboost_auroc_by_learners"])
    lines = ["| features | " + " | ".join(f"AdaBoost {c}" for c in counts) + " | fine-tuned |", "|---|" + "---|" * (len(counts) + 1)]
    for name in results[0]:
        cells = []
        for count in counts:
            values = [r[name]["adaboost_auroc_by_learners"][count] for r in results]
            cells.append(f"{np.mean(values):.3f} ± {np.std(values):.3f}")
        tuned = [r[name]["fine_tuned_auroc"] for r in results if r[name]["fine_tuned_auroc"] is not None]
        cells.append(f"{np.mean(tuned):.3f} ± {np.std(tuned):.3f}" if tuned else "–")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines
