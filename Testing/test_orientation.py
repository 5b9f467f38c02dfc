"""In-plane display orientation: which flips and transposes, round trips, and that detection does not depend on storage order."""

from __future__ import annotations

import numpy as np
import pytest
from AnomalyDetectLib.bundle import load_bundle
from AnomalyDetectLib.orientation import InPlaneOrientation
from AnomalyDetectLib.phantom import make_head_phantom
from AnomalyDetectLib.pipeline import detect
from AnomalyDetectLib.volume import LPS_TO_RAS, Volume

pytestmark = pytest.mark.usefixtures("one_thread")


def _matrix(column_axis, row_axis, normal, spacing=(1.0, 1.0, 1.0)):
    matrix = np.eye(4)
    matrix[:3, 0] = np.asarray(column_axis, float) * spacing[0]
    matrix[:3, 1] = np.asarray(row_axis, float) * spacing[1]
    matrix[:3, 2] = np.asarray(normal, float) * spacing[2]
    return matrix


@pytest.mark.parametrize(
    "columns, rows, normal, expected",
    [
        # axial, stored as DICOM usually is (i -> patient left, j -> posterior): nothing to do
        ((-1, 0, 0), (0, -1, 0), (0, 0, 1), (False, False, False, "axial")),
        # axial stored RAS-wise (many NIfTI writers): both in-plane axes reversed
        ((1, 0, 0), (0, 1, 0), (0, 0, 1), (False, True, True, "axial")),
        # axial with rows and columns swapped: transpose only
        ((0, -1, 0), (-1, 0, 0), (0, 0, -1), (True, False, False, "axial")),
        # coronal: screen right = left, screen down = inferior
        ((1, 0, 0), (0, 0, -1), (0, 1, 0), (False, False, True, "coronal")),
        # sagittal stored with rows running superior and columns anterior
        ((0, 0, 1), (0, 1, 0), (1, 0, 0), (True, True, True, "sagittal")),
    ],
)
def test_orientation_for_common_layouts(columns, rows, normal, expected):
    found = InPlaneOrientation.of(_matrix(columns, rows, normal, spacing=(0.7, 0.9, 3.0)))
    assert (found.transpose, found.flip_rows, found.flip_columns, found.plane) == expected


def test_lgg_layout_is_identity_and_slightly_oblique_axes_round_to_the_nearest():
    lps_identity = LPS_TO_RAS @ np.eye(4)  # what SimpleITK's identity direction becomes in RAS
    assert InPlaneOrientation.of(lps_identity).is_identity
    tilted = _matrix((0.97, 0.2, 0.1), (-0.2, 0.97, 0.05), (-0.1, -0.05, 0.99))
    assert (InPlaneOrientation.of(tilted).flip_rows, InPlaneOrientation.of(tilted).flip_columns) == (True, True)
    assert InPlaneOrientation.of(np.zeros((4, 4))).is_identity, "a degenerate matrix is left alone, not guessed"


def test_apply_and_undo_are_inverse_views_and_spacing_follows():
    stack = np.arange(2 * 3 * 5).reshape(2, 3, 5)
    for transpose in (False, True):
        for flip_rows in (False, True):
            for flip_columns in (False, True):
                orientation = InPlaneOrientation(transpose, flip_rows, flip_columns)
                shown = orientation.apply(stack)
                assert np.shares_memory(shown, stack), "apply must not copy the volume"
                np.testing.assert_array_equal(orientation.undo(shown), stack)
    shown = InPlaneOrientation(True, True, False).apply(stack)
    assert shown.shape == (2, 5, 3)
    assert shown[0, 0, 0] == stack[0, 0, 4], "transpose then flip rows: top-left shows stored column 4, row 0"
    assert InPlaneOrientation(True).spacing_rows_columns((0.5, 0.8, 3.0)) == (0.5, 0.8)
    assert InPlaneOrientation(False).spacing_rows_columns((0.5, 0.8, 3.0)) == (0.8, 0.5)


def test_detection_does_not_depend_on_how_the_volume_is_stored(trained_bundle_path):
    """The same anatomy stored in four layouts gives the same map (in each layout) and the same scores."""
    bundle = load_bundle(trained_bundle_path)
    volume, _ = make_head_phantom(seed=61, shape=(10, 40, 52), lesion=True)
    reference = detect(volume, bundle, device="cpu")
    matrix = volume.ijk_to_ras
    for flip_rows, flip_columns, transpose in [(True, True, False), (False, True, False), (False, False, True)]:
        stored = volume.voxels
        new_matrix = matrix.copy()
        if flip_columns:  # reverse i: voxel i' = n - 1 - i
            stored = stored[:, :, ::-1]
            new_matrix[:3, 3] += matrix[:3, 0] * (volume.shape[2] - 1)
            new_matrix[:3, 0] *= -1
        if flip_rows:
            stored = stored[:, ::-1, :]
            new_matrix[:3, 3] += matrix[:3, 1] * (volume.shape[1] - 1)
            new_matrix[:3, 1] *= -1
        if transpose:
            stored = np.swapaxes(stored, 1, 2)
            new_matrix[:3, [0, 1]] = new_matrix[:3, [1, 0]]
        other = Volume(np.ascontiguousarray(stored), new_matrix, "restored", volume.modality)
        result = detect(other, bundle, device="cpu")
        expected_map = reference.anomaly_map[:, :, ::-1] if flip_columns else reference.anomaly_map
        expected_map = expected_map[:, ::-1, :] if flip_rows else expected_map
        expected_map = np.swapaxes(expected_map, 1, 2) if transpose else expected_map
        np.testing.assert_allclose(result.anomaly_map, expected_map, atol=1e-5)
        np.testing.assert_allclose(result.slice_scores, reference.slice_scores, rtol=1e-5, atol=1e-7)
