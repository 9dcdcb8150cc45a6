"""The egg ``scrapyd-deploy`` builds carries the whole package, its data files included, and
the package reads them from wherever it was imported, not from the source tree.

A Scrapyd host has only the egg (``docs/deploy.md``): a file read through a path relative to
the checkout, or a data file left out of ``[tool.setuptools.package-data]``, works in every
local test and fails only once deployed. So the egg is built here by the real command, in a
copy of the project, and imported in a fresh Python with the source tree out of reach.
"""

from __future__ import annotations

import ast
import configparser
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "chinanews"
#: What a copy of the project needs for ``scrapyd-deploy`` to build its egg.
PROJECT_FILES = ("chinanews", "pyproject.toml", "setup.py", "README.md", "scrapy.cfg")


def copy_project(dest: Path) -> Path:
    """The project's files, as they are in the checkout, copied under ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dest / name)
    return dest


def package_files() -> set[str]:
    """Every file of the package in the source tree, as a path inside the egg."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def egg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``scrapyd-deploy --build-egg``, run in a copy of the project."""
    deploy = Path(sys.executable).parent / "scrapyd-deploy"
    if not deploy.exists():
        reason = f"scrapyd-deploy is not installed next to {sys.executable} (the deploy extra)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("egg")
    project = copy_project(tmp / "project")
    path = tmp / "chinanews.egg"
    proc = subprocess.run(
        [str(deploy), f"--build-egg={path}"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return path


def test_the_egg_holds_every_file_of_the_package(egg: Path) -> None:
    with zipfile.ZipFile(egg) as z:
        names = set(z.namelist())
    assert sorted(package_files() - names) == []
    assert "chinanews/schemas/article.schema.json" in names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "docs/"))]


def test_the_egg_names_the_settings_module_for_scrapyd(egg: Path) -> None:
    entry_points = configparser.ConfigParser()
    with zipfile.ZipFile(egg) as z:
        entry_points.read_string(z.read("EGG-INFO/entry_points.txt").decode("utf-8"))
    assert entry_points["scrapy"]["settings"] == "chinanews.settings"


# Run in a fresh Python: the editable install's finder is removed, so that ``chinanews`` and
# every module of it can come only from the egg.
_PROBE = """
import importlib, json, pkgutil, sys
sys.meta_path[:] = [f for f in sys.meta_path if "Editable" not in getattr(f, "__name__", "")]
sys.path.insert(0, sys.argv[1])
import chinanews
from importlib import resources
from chinanews.pipelines.validate import article_schema
modules, missing = {}, {}
for info in pkgutil.walk_packages(chinanews.__path__, "chinanews."):
    try:
        modules[info.name] = importlib.import_module(info.name).__file__
    except ImportError as exc:  # an optional dependency (pyarrow, psycopg, ...) is not installed
        missing[info.name] = f"{type(exc).__name__}: {exc} ({exc.name})"
print(json.dumps({
    "package": chinanews.__file__,
    "schemas": str(resources.files("chinanews.schemas")),
    "schema": article_schema(),
    "modules": modules,
    "missing": missing,
}))
"""


def test_the_package_and_its_data_load_from_the_egg(egg: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(egg)],
        cwd=tmp_path,  # outside the source tree
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.splitlines()[-1])
    assert loaded["package"].startswith(f"{egg}/chinanews/")
    assert loaded["schemas"].startswith(str(egg))
    published = json.loads((PACKAGE / "schemas" / "article.schema.json").read_text("utf-8"))
    assert loaded["schema"] == published
    # a module missing from the egg would show here as a chinanews.* import error
    assert {n: e for n, e in loaded["missing"].items() if "(chinanews" in e} == {}
    assert loaded["modules"]
    assert {n: f for n, f in loaded["modules"].items() if not f.startswith(f"{egg}/")} == {}


def test_the_package_finds_no_file_through_its_own_path() -> None:
    """Runtime files are read with ``importlib.resources``: no module of the package looks
    at ``__file__``, which points into a zip once deployed."""
    users = [
        str(path.relative_to(ROOT))
        for path in sorted(PACKAGE.rglob("*.py"))
        if any(
            isinstance(node, ast.Name) and node.id == "__file__"
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        )
    ]
    assert users == []
