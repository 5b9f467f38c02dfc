"""The Slicer module (AnomalyDetect/AnomalyDetect.py and AnomalyDetectSlicerLib/) on real Slicer core.

The full Slicer application cannot run in CI; its Qt-free part (MRML, module logics, ``slicer.util``)
comes from the slicer-core wheel (``Testing/slicer_core_backend.py``) and only the Qt side (``qt``,
``ctk``, widgets, ``ScriptedLoadableModule``, ``parameterNodeWrapper``) from ``Testing/slicer_standin``,
whose members each record the Slicer source they mirror. A call the stand-in lacks raises AttributeError.

Here: Python 3.9 compatibility, what is imported at file scope, the logic's map and table,
re-runs, cancel, bad models and the self-test. The stand-in's own bookkeeping is in test_slicer_standin.py,
the CMake lists in test_packaging_slicer.py. The
other outputs are in test_slicer_logic.py, the panel in test_slicer_widget.py, what Slicer's views draw
in test_slicer_rendering.py, packaging in test_packaging_slicer.py, the dependency installer in test_slicer_dependencies.py.
Fixtures (``slicer_module``, ``scene``, ``tiny_bundle_path``) come from ``Testing/conftest.py``.
"""

import ast
import dataclasses
import types
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
STANDIN_DIR = REPO / "Testing" / "slicer_standin"
MODULE_DIR = REPO / "AnomalyDetect"
MODULE_FILE = MODULE_DIR / "AnomalyDetect.py"
SLICER_LIB_DIR = MODULE_DIR / "AnomalyDetectSlicerLib"




def _input_node(slicer, module, name="TestVolume", with_transform=True):
    voxels = module.AnomalyDetectTest.syntheticVolumeArray()
    ijk_to_ras = module.AnomalyDetectTest.syntheticIJKToRAS()
    node = slicer.util.addVolumeFromArray(voxels, ijkToRAS=ijk_to_ras, name=name)
    if with_transform:
        transform = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLinearTransformNode", name + " transform")
        node.SetAndObserveTransformNodeID(transform.GetID())
    return node, voxels, ijk_to_ras


def _ijk_to_ras(slicer, node):
    import vtk

    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return slicer.util.arrayFromVTKMatrix(matrix)


# --- Python 3.9 compatibility of everything Slicer may load -------------------------------------


def _python_files():
    return sorted(path for path in MODULE_DIR.rglob("*.py") if "__pycache__" not in path.parts)


@pytest.mark.parametrize("path", _python_files(), ids=lambda p: str(p.relative_to(MODULE_DIR)))
def test_parses_with_python_3_9_grammar(path):
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path), feature_version=(3, 9))
    # Annotations evaluated at definition time must not use PEP 604 unions (X | None),
    # which raise TypeError on Python 3.9 unless annotations are postponed.
    postponed = any(
        isinstance(node, ast.ImportFrom) and node.module == "__future__" and any(a.name == "annotations" for a in node.names)
        for node in tree.body
    )
    if postponed:
        return
    annotations = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs + [node.args.vararg, node.args.kwarg]
            annotations += [a.annotation for a in arguments if a is not None and a.annotation is not None]
            annotations += [node.returns] if node.returns is not None else []
    for node in tree.body + [item for cls in tree.body if isinstance(cls, ast.ClassDef) for item in cls.body]:
        if isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
    unions = [a for a in annotations if any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr) for n in ast.walk(a))]
    assert not unions, f"{path.name}: 'X | Y' annotations on lines {[a.lineno for a in unions]} fail on Python 3.9"


def test_slicer_module_file_has_no_postponed_annotations():
    # Slicer loads scripted modules itself; keep the module file free of __future__ tricks.
    tree = ast.parse(MODULE_FILE.read_text(encoding="utf-8"))
    futures = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "__future__"]
    assert not futures


def _slicer_side_files():
    """The module file and the Slicer-side package: what Slicer imports when it loads the module."""
    return [MODULE_FILE] + sorted(SLICER_LIB_DIR.glob("*.py"))


@pytest.mark.parametrize("path", _slicer_side_files(), ids=lambda p: str(p.relative_to(MODULE_DIR)))
def test_module_files_import_no_torch_or_lib_at_file_scope(path):
    # torch may not be installed in Slicer's Python yet: loading the module must not need it.
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top_level = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
    # AnomalyDetectLib.defaults is the one exception: it imports nothing (checked below).
    top_level |= {node.module.split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom) and node.module
                  and node.module != "AnomalyDetectLib.defaults"}
    assert not top_level & {"torch", "AnomalyDetectLib", "numpy"}


def test_the_shared_defaults_module_imports_nothing():
    tree = ast.parse((MODULE_DIR / "AnomalyDetectLib" / "defaults.py").read_text(encoding="utf-8"))
    assert not [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]


def test_module_file_only_delegates():
    # House style: the module file declares the module and imports the rest from AnomalyDetectSlicerLib.
    tree = ast.parse(MODULE_FILE.read_text(encoding="utf-8"))
    assert [node.name for node in tree.body if isinstance(node, ast.ClassDef)] == ["AnomalyDetect"]
    assert len(MODULE_FILE.read_text(encoding="utf-8").splitlines()) < 100


def test_core_library_does_not_import_the_slicer_side():
    # AnomalyDetectLib runs without Slicer (CLI, trainer): it never imports slicer, qt, ctk or the Slicer-side package.
    forbidden = {"slicer", "qt", "ctk", "AnomalyDetectSlicerLib"}
    for path in (MODULE_DIR / "AnomalyDetectLib").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module and not node.level}
        assert not imported & forbidden, f"{path.relative_to(MODULE_DIR)} imports {sorted(imported & forbidden)}"


def test_volume_round_trip_through_slicer_util(slicer_module, scene):
    slicer, module = slicer_module
    node, voxels, ijk_to_ras = _input_node(slicer, module, with_transform=False)
    assert node.GetImageData().GetDimensions() == tuple(reversed(voxels.shape))
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(node), voxels)
    np.testing.assert_allclose(_ijk_to_ras(slicer, node), ijk_to_ras)
    assert node.GetScalarVolumeDisplayNode().GetColorNodeID() == "vtkMRMLColorTableNodeGrey"
    assert node.GetID() == "vtkMRMLScalarVolumeNode1" and node.GetName() == "TestVolume"


# --- the module --------------------------------------------------------------------------------


def test_module_imports_and_registers(slicer_module):
    slicer, module = slicer_module
    for name in ("AnomalyDetect", "AnomalyDetectWidget", "AnomalyDetectLogic", "AnomalyDetectTest"):
        assert hasattr(module, name)
    parent = types.SimpleNamespace(path=str(MODULE_FILE))
    instance = module.AnomalyDetect(parent)
    assert parent.title == "Anomaly Detect" and parent.categories and parent.contributors
    assert isinstance(parent.icon, slicer.ScriptedLoadableModule.qt.QIcon)
    assert not parent.icon.isNull()
    assert slicer.selfTests["AnomalyDetect"] == instance.runTest
    assert instance.resourcePath("Icons/AnomalyDetect.png") == str(MODULE_DIR / "Resources" / "Icons" / "AnomalyDetect.png")
    assert isinstance(module.AnomalyDetectLogic(), slicer.ScriptedLoadableModule.ScriptedLoadableModuleLogic)


def test_volume_from_node_copies_voxels_and_geometry(slicer_module, scene):
    slicer, module = slicer_module
    node, voxels, ijk_to_ras = _input_node(slicer, module)
    volume = module.AnomalyDetectLogic.volumeFromNode(node)
    assert volume.name == "TestVolume"
    np.testing.assert_array_equal(volume.voxels, voxels)
    np.testing.assert_allclose(volume.ijk_to_ras, ijk_to_ras)
    volume.voxels[0, 0, 0] += 1  # a copy, not a view into the node's image data
    assert slicer.util.arrayFromVolume(node)[0, 0, 0] == voxels[0, 0, 0]


def test_process_adds_map_and_table(slicer_module, scene, tiny_bundle_path):
    pytest.importorskip("torch")
    slicer, module = slicer_module
    node, voxels, ijk_to_ras = _input_node(slicer, module)
    calls = []
    outputs = module.AnomalyDetectLogic().process(node, modelPath=tiny_bundle_path, progress=lambda f, m: calls.append((f, m)))

    assert calls and all(0.0 <= f <= 1.0 and isinstance(m, str) for f, m in calls)
    map_node, table_node, result = outputs.mapNode, outputs.tableNode, outputs.result
    assert map_node.GetName() == "TestVolume anomaly map" and map_node.IsA("vtkMRMLScalarVolumeNode")
    map_array = slicer.util.arrayFromVolume(map_node)
    assert map_array.shape == voxels.shape and map_array.dtype == np.float32
    np.testing.assert_array_equal(map_array, result.anomaly_map)
    np.testing.assert_allclose(_ijk_to_ras(slicer, map_node), ijk_to_ras)
    assert map_node.GetTransformNodeID() == node.GetTransformNodeID() is not None
    display = map_node.GetScalarVolumeDisplayNode()
    assert display.GetColorNodeID() == "vtkMRMLColorTableNodeFileInferno.txt"
    assert display.GetAutoWindowLevel() == 0
    assert display.GetWindowLevelMin() == pytest.approx(float(map_array.min()))
    assert display.GetWindowLevelMax() >= float(map_array.max())

    assert table_node.GetName() == "TestVolume slice scores"
    assert table_node.GetNumberOfRows() == voxels.shape[0]
    assert [table_node.GetColumnName(c) for c in range(table_node.GetNumberOfColumns())] == [
        "slice", "position_mm", "score", "flagged", "skipped"]
    table = table_node.GetTable()
    assert [table.GetColumn(c).GetClassName() for c in range(5)] == ["vtkIntArray", "vtkDoubleArray", "vtkDoubleArray", "vtkIntArray",
                                                                     "vtkIntArray"]
    np.testing.assert_array_equal(slicer.util.arrayFromTableColumn(table_node, "skipped"), 0)  # no region of interest
    np.testing.assert_array_equal(slicer.util.arrayFromTableColumn(table_node, "slice"), np.arange(voxels.shape[0]))
    np.testing.assert_allclose(slicer.util.arrayFromTableColumn(table_node, "score"), result.slice_scores)
    np.testing.assert_array_equal(slicer.util.arrayFromTableColumn(table_node, "flagged"), result.flagged.astype(int))
    positions = slicer.util.arrayFromTableColumn(table_node, "position_mm")
    np.testing.assert_allclose(np.diff(positions), 3.0)  # the synthetic volume's slice spacing
    assert table_node.GetColumnUnitLabel("position_mm") == "mm"

    assert node.GetNodeReference(module.AnomalyDetectLogic.MAP_REFERENCE_ROLE) is map_node
    assert node.GetNodeReference(module.AnomalyDetectLogic.TABLE_REFERENCE_ROLE) is table_node
    assert "Volume score" in module.AnomalyDetectLogic.summaryText(result)
    assert ("Skull-stripped" in module.AnomalyDetectLogic.summaryText(result)) == (result.profile == "masked")
    assert "Skull-stripped (masked) volume" in module.AnomalyDetectLogic.summaryText(dataclasses.replace(result, profile="masked"))


def test_rerun_replaces_outputs(slicer_module, scene, tiny_bundle_path):
    pytest.importorskip("torch")
    slicer, module = slicer_module
    logic = module.AnomalyDetectLogic()
    node, _voxels, _matrix = _input_node(slicer, module)
    first = logic.process(node, modelPath=tiny_bundle_path)
    count = scene.GetNumberOfNodes()
    second = logic.process(node, modelPath=tiny_bundle_path)
    assert scene.GetNumberOfNodes() == count
    assert second.mapNode is first.mapNode and second.tableNode is first.tableNode

    # Outputs found by name when the reference is gone (same input only).
    node.SetNodeReferenceID(logic.MAP_REFERENCE_ROLE, None)
    third = logic.process(node, modelPath=tiny_bundle_path)
    assert scene.GetNumberOfNodes() == count and third.mapNode is first.mapNode

    # A removed output is made again.
    scene.RemoveNode(first.tableNode)
    fourth = logic.process(node, modelPath=tiny_bundle_path)
    assert fourth.tableNode is not first.tableNode and fourth.tableNode.GetScene() is scene
    assert scene.GetNumberOfNodes() == count


def test_other_input_with_the_same_name_gets_its_own_outputs(slicer_module, scene, tiny_bundle_path):
    pytest.importorskip("torch")
    slicer, module = slicer_module
    logic = module.AnomalyDetectLogic()
    first_input, _v, _m = _input_node(slicer, module, name="Same")
    second_input, _v, _m = _input_node(slicer, module, name="Same")
    first = logic.process(first_input, modelPath=tiny_bundle_path)
    second = logic.process(second_input, modelPath=tiny_bundle_path)
    assert second.mapNode is not first.mapNode and first.mapNode.GetScene() is scene


def test_cancel_raises_and_leaves_no_nodes(slicer_module, scene, tiny_bundle_path):
    pytest.importorskip("torch")
    slicer, module = slicer_module
    from AnomalyDetectLib.errors import Cancelled

    node, _voxels, _matrix = _input_node(slicer, module)
    count = scene.GetNumberOfNodes()
    with pytest.raises(Cancelled):
        module.AnomalyDetectLogic().process(node, modelPath=tiny_bundle_path, shouldCancel=lambda: True)
    assert scene.GetNumberOfNodes() == count
    assert node.GetNodeReference(module.AnomalyDetectLogic.MAP_REFERENCE_ROLE) is None


def test_bad_model_raises_and_leaves_no_nodes(slicer_module, scene, tmp_path):
    slicer, module = slicer_module
    from AnomalyDetectLib.errors import BundleError

    node, _voxels, _matrix = _input_node(slicer, module)
    count = scene.GetNumberOfNodes()
    with pytest.raises(BundleError):
        module.AnomalyDetectLogic().process(node, modelPath=str(tmp_path / "missing.safetensors"))
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a bundle")
    with pytest.raises(BundleError):
        module.AnomalyDetectLogic().process(node, modelPath=str(broken))
    assert scene.GetNumberOfNodes() == count


def test_process_rejects_missing_input(slicer_module, scene):
    slicer, module = slicer_module
    from AnomalyDetectLib.errors import AnomalyDetectError

    with pytest.raises(AnomalyDetectError, match="Select an input scalar volume"):
        module.AnomalyDetectLogic().process(None)
    empty = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "empty")  # no image data
    with pytest.raises(AnomalyDetectError, match="holds image data"):
        module.AnomalyDetectLogic().process(empty)


def test_module_self_test_runs_in_standin(slicer_module, scene, tiny_bundle_path):
    pytest.importorskip("torch")
    slicer, module = slicer_module
    module.AnomalyDetect(types.SimpleNamespace(path=str(MODULE_FILE)))
    # The way Slicer's "Reload and Test" and ctest call it: slicer.selfTests[name](msec=..., **kwargs).
    # Without landmarkModelPath the self-test writes its own untrained landmark bundle.
    slicer.selfTests["AnomalyDetect"](msec=0, modelPath=tiny_bundle_path)
    names = {scene.GetNthNode(n).GetName() for n in range(scene.GetNumberOfNodes())}
    assert {"AnomalyDetectTestVolume anomaly map", "AnomalyDetectTestVolume slice scores",
            "AnomalyDetectTestVolume slice score plot"} <= names
