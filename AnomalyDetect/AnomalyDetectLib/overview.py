"""Overview pictures: a montage of axial slices with the anomaly map laid over them.

Pure numpy (plus SimpleITK to write the PNG), so it works headless, in the CLI, in the
trainer and inside Slicer alike. Each tile shows one slice, greyscale-windowed, with the
anomaly map in heat colours where it exceeds ``map_threshold``, a coloured frame (red when
the slice score exceeds the slice threshold, grey otherwise) and, where the tile is large
enough, the slice index and score in a tiny built-in bitmap font.

Example::

    from AnomalyDetectLib.overview import render_overview, write_png
    ks = [40, 55, 70]
    rgb = render_overview([voxels[k] for k in ks], [amap[k] for k in ks], ks,
                          [scores[k] for k in ks], threshold=0.5, map_threshold=0.3)
    write_png(rgb, "overview.png")
"""

from __future__ import annotations

import math
import os
from typing import Optional, Sequence, Tuple

import numpy as np

from .files import atomic_output

#: Anchor colours of the heat map (matplotlib's "inferno" sampled at 0, 0.1, ..., 1).
_HEAT_ANCHORS = np.array(
    [
        (0, 0, 4),
        (22, 11, 57),
        (66, 10, 104),
        (106, 23, 110),
        (147, 38, 103),
        (188, 55, 84),
        (221, 81, 58),
        (243, 120, 25),
        (252, 165, 10),
        (246, 215, 70),
        (252, 255, 164),
    ],
    dtype=np.float64,
)

FRAME_ABOVE = (220, 30, 30)  # slice score > threshold
FRAME_BELOW = (128, 128, 128)  # slice score <= threshold, or unknown
TEXT_COLOUR = (255, 255, 255)
OVERLAY_ALPHA = 0.6
#: Part of the heat scale used for the overlay: its dark end is invisible on a dark image.
_OVERLAY_COLOUR_RANGE = (0.35, 1.0)

# 5×7 bitmap font: each glyph is 7 rows of 5 bits (most significant bit = leftmost pixel).
_FONT = {
    "0": (14, 17, 19, 21, 25, 17, 14),
    "1": (4, 12, 4, 4, 4, 4, 14),
    "2": (14, 17, 1, 2, 4, 8, 31),
    "3": (31, 2, 4, 2, 1, 17, 14),
    "4": (2, 6, 10, 18, 31, 2, 2),
    "5": (31, 16, 30, 1, 1, 17, 14),
    "6": (6, 8, 16, 30, 17, 17, 14),
    "7": (31, 1, 2, 4, 8, 8, 8),
    "8": (14, 17, 17, 14, 17, 17, 14),
    "9": (14, 17, 17, 15, 1, 2, 12),
    ".": (0, 0, 0, 0, 0, 12, 12),
    "-": (0, 0, 0, 31, 0, 0, 0),
    "k": (16, 16, 18, 20, 24, 20, 18),
    "=": (0, 0, 31, 0, 31, 0, 0),
    " ": (0, 0, 0, 0, 0, 0, 0),
}
_GLYPHS = {ch: np.array([[(row >> (4 - b)) & 1 for b in range(5)] for row in rows], dtype=bool) for ch, rows in _FONT.items()}


def heat_colours(values01) -> np.ndarray:
    """Map values in [0, 1] to inferno-like RGB colours (uint8, shape ``values.shape + (3,)``).

    Values outside [0, 1] are clipped; NaN maps to the dark end.
    """
    v = np.nan_to_num(np.asarray(values01, dtype=np.float64), nan=0.0, posinf=1.0, neginf=0.0)
    v = np.clip(v, 0.0, 1.0) * (len(_HEAT_ANCHORS) - 1)
    low = np.minimum(np.floor(v).astype(np.intp), len(_HEAT_ANCHORS) - 2)
    frac = (v - low)[..., None]
    rgb = _HEAT_ANCHORS[low] * (1.0 - frac) + _HEAT_ANCHORS[low + 1] * frac
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _block_reduce(a: np.ndarray, factor: int, how: str) -> np.ndarray:
    rows, cols = (a.shape[0] // factor) * factor, (a.shape[1] // factor) * factor
    blocks = a[:rows, :cols].reshape(rows // factor, factor, cols // factor, factor)
    with np.errstate(invalid="ignore"):
        return blocks.max(axis=(1, 3)) if how == "max" else blocks.mean(axis=(1, 3))


def _resize(a: np.ndarray, out_rows: int, out_cols: int, how: str = "mean") -> np.ndarray:
    """Resize a 2D float array (pixel-centre aligned, bilinear; box/max prefilter when shrinking a lot).

    ``how="max"`` keeps small peaks visible when shrinking (used for the anomaly map).
    An output of the input's own size reproduces the input exactly.
    """
    factor = int(min(a.shape[0] / out_rows, a.shape[1] / out_cols))
    if factor >= 2:
        a = _block_reduce(a, factor, how)
    rows, cols = a.shape
    ys = (np.arange(out_rows) + 0.5) * (rows / out_rows) - 0.5
    xs = (np.arange(out_cols) + 0.5) * (cols / out_cols) - 0.5
    ys, xs = np.clip(ys, 0, rows - 1), np.clip(xs, 0, cols - 1)
    y0, x0 = np.floor(ys).astype(np.intp), np.floor(xs).astype(np.intp)
    y1, x1 = np.minimum(y0 + 1, rows - 1), np.minimum(x0 + 1, cols - 1)
    wy, wx = (ys - y0)[:, None], (xs - x0)[None, :]
    with np.errstate(invalid="ignore"):
        top = a[y0][:, x0] * (1 - wx) + a[y0][:, x1] * wx
        bottom = a[y1][:, x0] * (1 - wx) + a[y1][:, x1] * wx
        out = top * (1 - wy) + bottom * wy
    # Exact copies where no interpolation happens (avoids 0 * inf = NaN on exact grid points).
    exact = (wy == 0) & (wx == 0)
    if exact.any():
        out = np.where(exact, a[y0][:, x0], out)
    return out


def _format_score(score) -> str:
    if score is None or not np.isfinite(score):
        return "-"
    score = float(score)
    return f"{score:.3f}" if abs(score) < 100 else f"{score:.0f}"


def _draw_text(canvas: np.ndarray, text: str, top: int, left: int, scale: int) -> None:
    """Draw ``text`` (only characters of the built-in font; others become spaces) on a darkened box."""
    glyph_w, glyph_h, pad = 6 * scale, 7 * scale, scale
    max_chars = max(0, (canvas.shape[1] - left - 2 * pad) // glyph_w)
    text = text[:max_chars]
    if not text or top + glyph_h + 2 * pad > canvas.shape[0]:
        return
    box = canvas[top : top + glyph_h + 2 * pad, left : left + len(text) * glyph_w + pad]
    box[...] = (box.astype(np.float64) * 0.3).astype(np.uint8)
    for n, ch in enumerate(text):
        glyph = _GLYPHS.get(ch, _GLYPHS[" "])
        if scale > 1:
            glyph = np.kron(glyph, np.ones((scale, scale), dtype=bool))
        y, x = top + pad, left + pad + n * glyph_w
        canvas[y : y + glyph_h, x : x + 5 * scale][glyph] = TEXT_COLOUR


def _window(image_slices: Sequence[np.ndarray], window: Optional[Tuple[float, float]]) -> Tuple[float, float]:
    if window is not None:
        low, high = float(window[0]), float(window[1])
    else:
        values = np.concatenate([np.asarray(s, dtype=np.float64).ravel() for s in image_slices])
        values = values[np.isfinite(values)]
        if values.size == 0:
            return 0.0, 1.0
        low, high = (float(v) for v in np.percentile(values, [1.0, 99.0]))
    if not high > low:
        high = low + 1.0
    return low, high


def render_overview(
    image_slices: Sequence[np.ndarray],
    map_slices: Sequence[Optional[np.ndarray]],
    slice_indices: Sequence[int],
    scores: Sequence[Optional[float]],
    threshold: Optional[float],
    map_threshold: float,
    window: Optional[Tuple[float, float]] = None,
    columns: int = 3,
    tile: int = 256,
    annotate: bool = True,
) -> np.ndarray:
    """Render a montage of axial slices with the anomaly map overlaid; returns uint8 RGB ``(H, W, 3)``.

    ``image_slices`` and ``map_slices`` are 2D arrays ``(rows, cols)`` (row 0 at the top of the
    picture); a ``map_slices`` entry may be ``None`` (no overlay). The greyscale window is
    ``window`` = ``(low, high)`` or, by default, the 1st–99th percentile of all given slices.
    The map is shown in heat colours where it is ``> map_threshold`` (alpha up to 0.6, growing
    with how far above the threshold the value lies, relative to the largest map value shown).
    Each slice becomes a ``tile``×``tile`` square (aspect kept, black padding) with a frame that
    is red when its score is ``> threshold`` and grey otherwise (or when score/threshold is
    ``None``/NaN); with ``annotate`` the slice index and score are printed in the top-left corner.
    Tiles fill ``columns`` columns row by row: ``H = ceil(n / columns) * tile``,
    ``W = min(columns, n) * tile``.
    """
    n = len(image_slices)
    if n == 0:
        raise ValueError("render_overview needs at least one slice.")
    if not (len(map_slices) == len(slice_indices) == len(scores) == n):
        raise ValueError(
            f"render_overview: got {n} image slices, {len(map_slices)} map slices, "
            f"{len(slice_indices)} slice indices and {len(scores)} scores; they must be equal."
        )
    tile, columns = int(tile), int(columns)
    if tile < 8:
        raise ValueError(f"render_overview: tile must be at least 8 pixels, got {tile}.")
    if columns < 1:
        raise ValueError(f"render_overview: columns must be at least 1, got {columns}.")
    images = [np.asarray(s, dtype=np.float64) for s in image_slices]
    maps = [None if m is None else np.asarray(m, dtype=np.float64) for m in map_slices]
    for k, (img, amap) in enumerate(zip(images, maps)):
        if img.ndim != 2 or min(img.shape) < 1:
            raise ValueError(f"render_overview: image slice {k} has shape {img.shape}; a non-empty 2D array is needed.")
        if amap is not None and amap.shape != img.shape:
            raise ValueError(f"render_overview: map slice {k} has shape {amap.shape}, image slice has {img.shape}.")

    low, high = _window(images, window)
    map_threshold = float(map_threshold)
    shown = [m[np.isfinite(m) & (m > map_threshold)] for m in maps if m is not None]
    peak = max((float(s.max()) for s in shown if s.size), default=map_threshold)
    span = peak - map_threshold if peak > map_threshold else 1.0

    frame = max(2, tile // 64)
    inner = tile - 2 * frame
    text_scale = max(1, tile // 160)
    ncols = min(columns, n)
    nrows = math.ceil(n / columns)
    canvas = np.zeros((nrows * tile, ncols * tile, 3), dtype=np.uint8)

    for k in range(n):
        img, amap = images[k], maps[k]
        rows, cols = img.shape
        scale = inner / max(rows, cols)
        out_rows, out_cols = max(1, round(rows * scale)), max(1, round(cols * scale))

        grey = np.clip((np.nan_to_num(img, nan=low) - low) / (high - low), 0.0, 1.0)
        grey = _resize(grey, out_rows, out_cols, "mean")
        rgb = np.repeat(grey[..., None] * 255.0, 3, axis=2)
        if amap is not None:
            m = _resize(np.where(np.isfinite(amap), amap, -np.inf), out_rows, out_cols, "max")
            with np.errstate(invalid="ignore"):
                hot = m > map_threshold
            if hot.any():
                excess = np.clip((m[hot] - map_threshold) / span, 0.0, 1.0)
                c_lo, c_hi = _OVERLAY_COLOUR_RANGE
                colours = heat_colours(c_lo + (c_hi - c_lo) * excess).astype(np.float64)
                alpha = (OVERLAY_ALPHA * (0.3 + 0.7 * excess))[:, None]
                rgb[hot] = rgb[hot] * (1.0 - alpha) + colours * alpha
        tile_rgb = np.zeros((tile, tile, 3), dtype=np.uint8)
        top = frame + (inner - out_rows) // 2
        left = frame + (inner - out_cols) // 2
        tile_rgb[top : top + out_rows, left : left + out_cols] = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)

        score = scores[k]
        above = threshold is not None and score is not None and np.isfinite(score) and float(score) > float(threshold)
        colour = FRAME_ABOVE if above else FRAME_BELOW
        tile_rgb[:frame], tile_rgb[-frame:], tile_rgb[:, :frame], tile_rgb[:, -frame:] = colour, colour, colour, colour
        if annotate:
            _draw_text(
                tile_rgb[: tile - frame, : tile - frame],
                f"k={int(slice_indices[k])} {_format_score(score)}",
                frame + 1,
                frame + 1,
                text_scale,
            )

        r, c = divmod(k, columns)
        canvas[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] = tile_rgb
    return canvas


def write_png(rgb: np.ndarray, path) -> None:
    """Write a uint8 RGB ``(H, W, 3)`` (or grey ``(H, W)``) array as PNG; the file appears whole or not at all.

    Raises :class:`~AnomalyDetectLib.errors.OutputError` naming ``path`` when it cannot be written.
    """
    import SimpleITK as sitk

    path = os.fspath(path)
    array = np.asarray(rgb)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(f"write_png: expected an (H, W, 3) RGB array, got shape {array.shape}.")
    if array.dtype != np.uint8:
        array = np.clip(np.rint(np.nan_to_num(array.astype(np.float64))), 0, 255).astype(np.uint8)
    with atomic_output(path, suffix=".png") as temporary:  # SimpleITK errors are RuntimeErrors
        image = sitk.GetImageFromArray(np.ascontiguousarray(array), isVector=array.ndim == 3)
        writer = sitk.ImageFileWriter()
        writer.SetImageIO("PNGImageIO")
        writer.SetFileName(temporary)
        writer.Execute(image)
