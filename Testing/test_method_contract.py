"""The method contract is code: every registered method is a models.base.Method with its members declared."""

from __future__ import annotations

import ast
import os

import pytest
from AnomalyDetectLib.models import LANDMARK_METHODS, METHODS, get_method
from AnomalyDetectLib.models.base import Method

MODELS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "AnomalyDetect", "AnomalyDetectLib", "models")


@pytest.mark.parametrize("name", sorted(METHODS) + sorted(LANDMARK_METHODS))
def test_registered_methods_follow_the_contract(name):
    method = get_method(name)
    assert isinstance(method, Method) and method.NAME == name
    assert method.TASK == ("landmarks" if name in LANDMARK_METHODS else "anomaly")
    assert isinstance(method.DEFAULT_ARCHITECTURE, dict) and method.DEFAULT_ARCHITECTURE
    assert method.DETECT_BATCH_SIZE is None or method.DETECT_BATCH_SIZE > 0
    if method.TASK == "anomaly":
        assert method.DEFAULT_MAP in method.MAPS
        assert type(method).analyse is not Method.analyse and type(method).make_trainer is not Method.make_trainer
    assert isinstance(method.uses_abnormal_slices(dict(method.DEFAULT_TRAINING)), bool)


def test_unimplemented_members_say_so():
    with pytest.raises(NotImplementedError, match="does not analyse"):
        Method().analyse(None, None, "residual")
    assert Method().uses_abnormal_slices({}) is False


def test_method_folders_import_no_other_method_folders_networks():
    """Shared blocks live in models/dcgan.py and models/base.py; a method folder imports only those, not another method's files
    (HQ-AnoGAN's use of AnoGAN's public latent search, ``from ..anogan import search_latent``, is the one reuse by design)."""
    folders = {entry for entry in os.listdir(MODELS) if os.path.isdir(os.path.join(MODELS, entry)) and not entry.startswith("__")}
    offenders = []
    for folder in sorted(folders):
        for file_name in os.listdir(os.path.join(MODELS, folder)):
            if not file_name.endswith(".py"):
                continue
            tree = ast.parse(open(os.path.join(MODELS, folder, file_name), encoding="utf-8").read())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.level == 2 and (node.module or "").split(".")[0] in folders:
                    reused = (node.module, tuple(alias.name for alias in node.names))
                    if reused != ("anogan", ("search_latent",)):
                        offenders.append(f"{folder}/{file_name}: from ..{node.module} import {[a.name for a in node.names]}")
    assert not offenders, offenders
