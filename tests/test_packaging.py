"""The wheel is what users install: it must hold daypart.* and nothing generic."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_holds_the_three_subpackages_and_no_generic_top_level(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("daypart-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {"daypart", wheel.name.split("-py3")[0] + ".dist-info"}
    for package in ("middleware", "experiments", "rules"):
        assert f"daypart/{package}/__init__.py" in names
        assert f"daypart/{package}/py.typed" in names
    assert "daypart/rules/examples/travel.yaml" in names
    assert "daypart/rules/examples/minimal.yaml" in names
    assert any(name.startswith("daypart/experiments/store/lua/") for name in names)
    assert not any(name.startswith(("middleware/", "rules/", "experiments/")) for name in names)
    assert not any(name.startswith("daypart/tests") or "/loadtests/" in name for name in names)
