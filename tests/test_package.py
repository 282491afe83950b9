"""The package: `pip install .` gives a `workbench` command, installs one top-level package
(never `core`, `ui` or `storage` on their own) and declares every library the code imports."""

import ast
import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PROJECT_PACKAGES = {"core", "ui", "storage", "app_pages", "launcher", "tests", "app_server",
                    "conftest"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps",
                    "--no-build-isolation", "-q", "-w", str(folder)], check=True,
                   capture_output=True)
    return next(folder.glob("*.whl"))


@pytest.mark.slow
def test_the_wheel_holds_one_top_level_package_and_the_app(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"workbench"}
    for needed in ("workbench/app.py", "workbench/launcher.py", "workbench/.streamlit/config.toml",
                   "workbench/app_pages/train.py", "workbench/core/cli.py",
                   "workbench/core/methods/sft.py", "workbench/storage/schema.py",
                   "workbench/ui/common.py"):
        assert needed in names
    assert not any(n.startswith(("workbench/tests/", "workbench/workbench_data/")) for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "workbench = workbench.launcher:main" in zipfile.ZipFile(wheel).read(entry).decode()


@pytest.mark.slow
def test_the_installed_command_answers_from_anywhere(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(wheel)], check=True, capture_output=True)
    script = ("import sys; sys.path.insert(0, sys.argv[1]); sys.argv[1:] = sys.argv[2:]\n"
              "import importlib.util\n"
              "assert importlib.util.find_spec('core') is None  # not a top-level package\n"
              "from workbench.launcher import main; sys.exit(main())")
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    env.pop("PYTHONPATH", None)
    run = lambda *args: subprocess.run([sys.executable, "-c", script, str(target), *args],  # noqa: E731
                                       cwd=tmp_path, env=env, capture_output=True, text=True)
    helped = run("--help")
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: workbench") and "serve the workbench's pages" in helped.stdout
    listed = run("models")
    assert listed.returncode == 0 and "minilm-l6" in listed.stdout
    assert run("train", "--dataset", "nowhere.csv").stderr.strip() == \
        "error: file not found: nowhere.csv"


def imported_libraries() -> set[str]:
    """Top-level names imported by the project's own code (tests and benches aside)."""
    names = set()
    files = [ROOT / "app.py", ROOT / "launcher.py",
             *(p for folder in ("core", "ui", "storage", "app_pages")
               for p in (ROOT / folder).rglob("*.py"))]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
    return names - PROJECT_PACKAGES - set(sys.stdlib_module_names)


def test_every_library_the_code_imports_is_declared():
    extras = [d for group in PROJECT["optional-dependencies"].values() for d in group]
    declared = {re.split(r"[<>=!~ ;\[]", d)[0].lower().replace("_", "-")
                for d in [*PROJECT["dependencies"], *extras]}
    distributions = importlib.metadata.packages_distributions()
    missing = {}
    for name in imported_libraries():
        # An optional extra not installed here is known by its distribution's name.
        not_installed = [{"llama_cpp": "llama-cpp-python"}.get(name, name)]
        owners = {d.lower().replace("_", "-") for d in distributions.get(name, not_installed)}
        if not owners & declared:
            missing[name] = owners
    assert missing == {}, f"imported but not in pyproject's dependencies: {missing}"
    assert {"numpy", "scipy"} <= declared


def test_the_declared_ranges_admit_the_pinned_versions_and_stop_at_them():
    """`pip install .` may take any version in a range, `-c requirements.txt` the tested one:
    each pin must be in its range, and the libraries whose new releases changed behaviour
    under us are capped at the tested minor version."""
    from packaging.requirements import Requirement

    pinned = {Requirement(line).name: Requirement(line).specifier
              for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    declared = {Requirement(d).name: Requirement(d).specifier for d in PROJECT["dependencies"]}
    for name, specifier in declared.items():
        version = next(iter(pinned[name])).version
        assert specifier.contains(version), (name, version, str(specifier))
    for name in ("torch", "transformers", "trl", "peft", "accelerate"):
        assert any(s.operator == "<" for s in declared[name]), name
