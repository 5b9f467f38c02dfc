"""The pip-installable distribution contains every package of the core and the trainer."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _listed_packages():
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^packages = \[(.*?)\]", text, flags=re.S | re.M)
    assert block, "pyproject.toml has no [tool.setuptools] packages list"
    return set(re.findall(r'"([^"]+)"', block.group(1)))


def _package_folders():
    found = set()
    for top, base in (("AnomalyDetectLib", ROOT / "AnomalyDetect" / "AnomalyDetectLib"), ("trainer", ROOT / "trainer")):
        for init in base.rglob("__init__.py"):
            parts = init.parent.relative_to(base).parts
            found.add(".".join((top,) + parts))
    return found


def test_pyproject_lists_every_package():
    assert _listed_packages() == _package_folders()


def test_installed_packages_import_outside_the_checkout(tmp_path):
    """From a directory without the checkout on sys.path, the installed project must import (as `pip install -e .` gives)."""
    code = "import AnomalyDetectLib.models, trainer.cli; print(sorted(AnomalyDetectLib.models.METHODS))"
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "skipganomaly" in result.stdout
