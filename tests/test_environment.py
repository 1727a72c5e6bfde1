"""The project's own files agree: pyproject.toml and environment.yml declare the same dependencies
(conda's pytorch == torch), constraints pin the torch pair, and the README's images exist."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_ONLY = {"python", "pip"}
CONDA_TO_PYPI = {"pytorch": "torch"}


def normalise(requirement: str) -> str:
    """'scikit_image>=0.22' -> 'scikit-image' (PEP 503 name, version and extras dropped)."""
    name = re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_requirements(path: Path) -> set[str]:
    project = tomllib.loads(path.read_text())["project"]
    names = {normalise(r) for r in project["dependencies"]}
    for extra in project.get("optional-dependencies", {}).values():
        names |= {normalise(r) for r in extra}
    return names


def conda_requirements(path: Path) -> set[str]:
    names = set()
    for entry in yaml.safe_load(path.read_text())["dependencies"]:
        if isinstance(entry, str):
            name = normalise(entry)
            if name not in CONDA_ONLY:
                names.add(CONDA_TO_PYPI.get(name, name))
    return names


def test_environment_matches_pyproject():
    in_pyproject = pyproject_requirements(ROOT / "pyproject.toml")
    in_conda = conda_requirements(ROOT / "environment.yml")
    assert in_pyproject - in_conda == set(), "in pyproject.toml but not environment.yml"
    assert in_conda - in_pyproject == set(), "in environment.yml but not pyproject.toml"


def test_environment_installs_this_package_editable():
    pip_section = next(
        e["pip"]
        for e in yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
        if isinstance(e, dict)
    )
    assert "-e ." in pip_section


@pytest.mark.parametrize("side", ["pyproject", "conda"])
def test_consistency_check_detects_a_one_sided_dependency(tmp_path, side):
    pyproject = tmp_path / "pyproject.toml"
    conda = tmp_path / "environment.yml"
    pyproject.write_text((ROOT / "pyproject.toml").read_text())
    conda.write_text((ROOT / "environment.yml").read_text())
    if side == "pyproject":
        pyproject.write_text(pyproject.read_text().replace('"tqdm>=4.66",', '"tqdm>=4.66",\n    "rich>=13",'))
    else:
        conda.write_text(conda.read_text().replace("  - tqdm>=4.66\n", "  - tqdm>=4.66\n  - rich>=13\n"))
    assert pyproject_requirements(pyproject) != conda_requirements(conda)


def test_constraints_pin_the_working_torch_pair():
    pins = dict(
        line.split("==")
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert pins["torch"] == "2.14.1"
    assert pins["torchvision"] == "0.29.1"


def test_readme_images_are_in_the_repository():
    readme = (ROOT / "README.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert "docs/images/figure1_blending.png" in images and "docs/images/figure3_bases.png" in images
    for image in images:
        path = ROOT / image
        assert path.is_file(), f"README.md shows {image}, which is not in the repository"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{image} is not a PNG"
