"""Evaluation metrics for slice scores and pixel anomaly maps (trainer side; uses scikit-learn).

Every function returns a plain dict of Python numbers, ``None`` and strings (JSON-ready).
Where a metric is undefined (only one class present, nothing to compare) its value is
``None`` and a ``"note"`` says why. Thresholds reported here follow the rule
``score > threshold`` → positive, the same rule the overview frames and map overlay use.

``matplotlib`` is needed only by :func:`plot_roc` and is imported there.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np
from scipy.ndimage import maximum_filter1d

__all__ = ["slice_metrics", "pixel_metrics", "position_matched", "plot_roc", "bootstrap_interval"]


def _as_1d(values, dtype) -> np.ndarray:
    return np.asarray(values, dtype=dtype).ravel()


def _clean(labels, scores, what: str):
    """Labels as bool and scores as float 1D arrays of equal length, non-finite scores dropped."""
    y = _as_1d(labels, np.float64)
    s = _as_1d(scores, np.float64)
    if y.shape != s.shape:
        raise ValueError(f"{what}: {y.size} labels but {s.size} scores.")
    finite = np.isfinite(s) & np.isfinite(y)
    return y[finite] > 0, s[finite], int(s.size - finite.sum())


def _strict_threshold(scores: np.ndarray, cut: float) -> float:
    """A threshold t such that ``score > t`` selects exactly the scores ``>= cut``.

    Midway between ``cut`` and the next lower distinct score (just below ``cut`` when none).
    """
    lower = scores[scores < cut]
    if lower.size:
        return float((cut + lower.max()) / 2.0)
    return float(np.nextafter(cut, -np.inf))


def _single_class_note(n_pos: int, n_neg: int, what: str) -> str:
    return f"{what} undefined: only one class present ({n_pos} positive, {n_neg} negative)."


def slice_metrics(labels, scores) -> Dict[str, object]:
    """Slice-level AUROC, average precision and the operating point at Youden's index.

    ``labels``: 1 (anomalous/tumour slice) or 0, ``scores``: higher = more anomalous. Returns
    ``auroc``, ``ap``, ``threshold`` (positive when ``score > threshold``), ``sensitivity``,
    ``specificity``, ``youden_j``, ``n_pos``, ``n_neg`` and ``n_dropped`` (non-finite scores
    left out); with a single class the metric values are ``None`` and ``note`` explains.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

    y, s, dropped = _clean(labels, scores, "slice_metrics")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    result: Dict[str, object] = {
        "auroc": None,
        "ap": None,
        "threshold": None,
        "sensitivity": None,
        "specificity": None,
        "youden_j": None,
        "n_pos": n_pos,
        "n_neg": n_neg,
        "n_dropped": dropped,
        "note": None,
    }
    if n_pos == 0 or n_neg == 0:
        result["note"] = _single_class_note(n_pos, n_neg, "AUROC, AP and Youden threshold")
        return result
    fpr, tpr, cuts = roc_curve(y, s)
    # Index 0 is the "nothing positive" point (threshold +inf); it is never the operating point.
    best = 1 + int(np.argmax((tpr - fpr)[1:]))
    threshold = _strict_threshold(s, float(cuts[best]))
    predicted = s > threshold
    sensitivity = float((predicted & y).sum() / n_pos)
    specificity = float((~predicted & ~y).sum() / n_neg)
    result.update(
        auroc=float(roc_auc_score(y, s)),
        ap=float(average_precision_score(y, s)),
        threshold=threshold,
        sensitivity=sensitivity,
        specificity=specificity,
        youden_j=sensitivity + specificity - 1.0,
    )
    return result


def bootstrap_interval(labels, scores, repeats: int = 2000, level: float = 0.95, seed: int = 0) -> Dict[str, object]:
    """Percentile bootstrap intervals of AUROC and AP, resampling positives and negatives separately.

    Stratified resampling keeps each replicate's class counts equal to the data's, so no
    replicate is single-class and the interval describes the uncertainty from which images
    were drawn, not from how many of each class. Returns ``auroc_ci`` and ``ap_ci`` as
    ``[low, high]`` (``None`` with a single class), ``repeats``, ``level`` and ``seed``.
    Images of one patient are treated as independent: with several images per patient the
    interval is too narrow.
    """
    from scipy.stats import rankdata
    from sklearn.metrics import average_precision_score

    y, s, _ = _clean(labels, scores, "bootstrap_interval")
    result: Dict[str, object] = {"auroc_ci": None, "ap_ci": None, "repeats": int(repeats), "level": level, "seed": seed}
    positives, negatives = s[y], s[~y]
    if positives.size == 0 or negatives.size == 0:
        return result
    rng = np.random.default_rng(seed)
    truth = np.concatenate([np.ones(positives.size, dtype=bool), np.zeros(negatives.size, dtype=bool)])
    aurocs, aps = np.empty(repeats), np.empty(repeats)
    for index in range(repeats):
        sample = np.concatenate([rng.choice(positives, positives.size), rng.choice(negatives, negatives.size)])
        ranks = rankdata(sample)  # Mann–Whitney: AUROC from the positives' rank sum, ties counted half
        aurocs[index] = (ranks[: positives.size].sum() - positives.size * (positives.size + 1) / 2) / (positives.size * negatives.size)
        aps[index] = average_precision_score(truth, sample)
    tail = 100.0 * (1.0 - level) / 2.0
    result["auroc_ci"] = [float(v) for v in np.percentile(aurocs, [tail, 100.0 - tail])]
    result["ap_ci"] = [float(v) for v in np.percentile(aps, [tail, 100.0 - tail])]
    return result


def pixel_metrics(
    label_arrays: Sequence[np.ndarray],
    map_arrays: Sequence[np.ndarray],
    masks: Optional[Sequence[Optional[np.ndarray]]],
    threshold: float,
    max_pixels: int = 2_000_000,
    seed: int = 0,
) -> Dict[str, object]:
    """Pixel-level AUROC/AP, Dice at ``threshold`` and the best (oracle) Dice over thresholds.

    ``label_arrays``, ``map_arrays`` and ``masks`` are lists with one array per volume (label,
    map and mask of a volume share a shape; ``masks`` or an entry of it may be ``None`` = all
    pixels). Only masked pixels with a finite map value count.

    * ``dice`` is global over ALL masked pixels: ``2·Σ|P∩L| / (Σ|P| + Σ|L|)`` with
      ``P = map > threshold``; ``dice_per_volume`` gives each volume's own (``None`` where
      both prediction and label are empty).
    * ``auroc``, ``ap`` and ``best_dice_oracle`` (max of ``2PR/(P+R)`` along the
      precision-recall curve, at ``best_dice_threshold``, again ``map > t``) are computed on a
      uniform random subsample of ``max_pixels`` pixels (``seed``) when there are more; then
      ``subsampled`` is True and ``note`` says so. The oracle threshold is chosen on the
      evaluation data itself, so it is an optimistic upper bound, not a fair result.
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

    n_volumes = len(label_arrays)
    if len(map_arrays) != n_volumes or (masks is not None and len(masks) != n_volumes):
        raise ValueError(
            f"pixel_metrics: {n_volumes} label arrays, {len(map_arrays)} maps and "
            f"{'no' if masks is None else len(masks)} masks; the lists must be equally long."
        )
    threshold = float(threshold)
    max_pixels = int(max_pixels)
    if max_pixels < 1:
        raise ValueError(f"pixel_metrics: max_pixels must be positive, got {max_pixels}.")

    def selection(v: int):
        label = np.asarray(label_arrays[v])
        amap = np.asarray(map_arrays[v], dtype=np.float64)
        mask = None if masks is None or masks[v] is None else np.asarray(masks[v]) > 0
        if label.shape != amap.shape or (mask is not None and mask.shape != amap.shape):
            raise ValueError(
                f"pixel_metrics: volume {v} has label shape {label.shape}, map shape {amap.shape}"
                f"{'' if mask is None else f' and mask shape {mask.shape}'}; they must be equal."
            )
        keep = np.isfinite(amap) if mask is None else mask & np.isfinite(amap)
        excluded = int((mask.sum() if mask is not None else amap.size) - keep.sum())
        return (label[keep] > 0), amap[keep], excluded

    # Pass 1: counts and Dice over every masked pixel.
    counts: List[int] = []
    inter_total = pred_total = label_total = n_pos = excluded_total = 0
    dice_per_volume: List[Optional[float]] = []
    for v in range(n_volumes):
        y, m, excluded = selection(v)
        predicted = m > threshold
        inter, n_pred, n_lab = int((predicted & y).sum()), int(predicted.sum()), int(y.sum())
        inter_total, pred_total, label_total = inter_total + inter, pred_total + n_pred, label_total + n_lab
        dice_per_volume.append(2.0 * inter / (n_pred + n_lab) if n_pred + n_lab else None)
        counts.append(int(y.size))
        n_pos += n_lab
        excluded_total += excluded
    n_pixels = int(sum(counts))
    notes: List[str] = []
    result: Dict[str, object] = {
        "n_volumes": n_volumes,
        "n_pixels": n_pixels,
        "n_pos": n_pos,
        "n_neg": n_pixels - n_pos,
        "n_nonfinite_excluded": excluded_total,
        "threshold": threshold,
        "dice": 2.0 * inter_total / (pred_total + label_total) if pred_total + label_total else None,
        "dice_per_volume": dice_per_volume,
        "auroc": None,
        "ap": None,
        "best_dice_oracle": None,
        "best_dice_threshold": None,
        "n_sampled": n_pixels,
        "subsampled": False,
        "seed": seed,
        "note": None,
    }
    if result["dice"] is None:
        notes.append("Dice undefined: no labelled and no predicted pixels.")

    # Pass 2: the (sub)sample for the ranking metrics.
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    chosen = None
    if n_pixels > max_pixels:
        rng = np.random.default_rng(seed)
        chosen = np.sort(rng.choice(n_pixels, size=max_pixels, replace=False))
        result.update(n_sampled=max_pixels, subsampled=True)
        notes.append(
            f"AUROC, AP and best_dice_oracle computed on {max_pixels} of {n_pixels} masked pixels "
            f"drawn uniformly at random (seed {seed}); Dice uses all pixels."
        )
    ys, ms = [], []
    for v in range(n_volumes):
        if counts[v] == 0:
            continue
        y, m, _ = selection(v)
        if chosen is not None:
            lo, hi = np.searchsorted(chosen, [offsets[v], offsets[v + 1]])
            local = chosen[lo:hi] - offsets[v]
            y, m = y[local], m[local]
        ys.append(y)
        ms.append(m)
    y = np.concatenate(ys) if ys else np.zeros(0, dtype=bool)
    m = np.concatenate(ms) if ms else np.zeros(0)
    s_pos, s_neg = int(y.sum()), int((~y).sum())
    if s_pos == 0 or s_neg == 0:
        notes.append(_single_class_note(s_pos, s_neg, "Pixel AUROC, AP and best_dice_oracle"))
    else:
        result["auroc"] = float(roc_auc_score(y, m))
        result["ap"] = float(average_precision_score(y, m))
        precision, recall, cuts = precision_recall_curve(y, m)
        precision, recall = precision[: len(cuts)], recall[: len(cuts)]  # last point has no threshold
        with np.errstate(invalid="ignore", divide="ignore"):
            dice = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        best = int(np.argmax(dice))
        result["best_dice_oracle"] = float(dice[best])
        result["best_dice_threshold"] = _strict_threshold(m, float(cuts[best]))
    result["note"] = " ".join(notes) or None
    return result


def position_matched(
    labels_per_volume: Sequence[np.ndarray],
    scores_per_volume: Sequence[np.ndarray],
    window: int = 5,
) -> Dict[str, object]:
    """AUROC of tumour slices against nearby normal slices only.

    For each volume (1D label and score arrays over its slices), the negatives are the normal
    slices lying within ``window`` slices of some tumour slice of the same volume; every tumour
    slice is a positive. This removes the easy contrast "tumour slice vs. top-of-head slice":
    the score must separate slices at comparable anatomical positions. Returns ``auroc``,
    ``ap``, ``n_pos``, ``n_neg``, ``window``, ``n_volumes_used`` (volumes with a tumour slice)
    and ``note`` (``None`` unless the AUROC is undefined).
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    if len(labels_per_volume) != len(scores_per_volume):
        raise ValueError(f"position_matched: {len(labels_per_volume)} label arrays but {len(scores_per_volume)} score arrays.")
    window = int(window)
    if window < 0:
        raise ValueError(f"position_matched: window must be >= 0, got {window}.")
    pos_scores, neg_scores = [], []
    used = 0
    for v, (labels, scores) in enumerate(zip(labels_per_volume, scores_per_volume)):
        y = _as_1d(labels, np.float64) > 0
        s = _as_1d(scores, np.float64)
        if y.shape != s.shape:
            raise ValueError(f"position_matched: volume {v} has {y.size} labels but {s.size} scores.")
        if not y.any():
            continue
        used += 1
        # Normal slices within `window` of a tumour slice: dilate the tumour indicator.
        near = maximum_filter1d(y.astype(np.int8), size=2 * window + 1, mode="constant") > 0
        finite = np.isfinite(s)
        pos_scores.append(s[y & finite])
        neg_scores.append(s[near & ~y & finite])
    pos = np.concatenate(pos_scores) if pos_scores else np.zeros(0)
    neg = np.concatenate(neg_scores) if neg_scores else np.zeros(0)
    result: Dict[str, object] = {
        "auroc": None,
        "ap": None,
        "n_pos": int(pos.size),
        "n_neg": int(neg.size),
        "window": window,
        "n_volumes_used": used,
        "note": None,
    }
    if pos.size == 0 or neg.size == 0:
        result["note"] = _single_class_note(int(pos.size), int(neg.size), "Position-matched AUROC")
        return result
    y = np.concatenate([np.ones(pos.size, dtype=bool), np.zeros(neg.size, dtype=bool)])
    s = np.concatenate([pos, neg])
    result["auroc"] = float(roc_auc_score(y, s))
    result["ap"] = float(average_precision_score(y, s))
    return result


def plot_roc(labels, scores, path, title: str) -> float:
    """Write a ROC curve PNG (matplotlib's Agg canvas, no display needed); returns the AUROC.

    The file appears whole or not at all. Raises ``ValueError`` when only one class is
    present and :class:`AnomalyDetectLib.errors.OutputError` when the file cannot be written.
    """
    from AnomalyDetectLib.files import atomic_output
    from sklearn.metrics import roc_auc_score, roc_curve

    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plot_roc needs matplotlib: pip install matplotlib") from None

    y, s, _ = _clean(labels, scores, "plot_roc")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(_single_class_note(n_pos, n_neg, "ROC curve"))
    fpr, tpr, _ = roc_curve(y, s)
    auroc = float(roc_auc_score(y, s))

    figure = Figure(figsize=(5, 5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    axes.plot(fpr, tpr, lw=2, label=f"AUROC = {auroc:.3f} (n+ = {n_pos}, n- = {n_neg})")
    axes.plot([0, 1], [0, 1], ls="--", lw=1, color="grey", label="chance")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    axes.set_xlabel("False positive rate (1 - specificity)")
    axes.set_ylabel("True positive rate (sensitivity)")
    axes.set_title(title)
    axes.legend(loc="lower right")
    axes.grid(alpha=0.3)
    figure.tight_layout()

    with atomic_output(path) as temporary:
        figure.savefig(temporary, format="png")
    return auroc
