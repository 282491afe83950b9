"""Safe defaults: the server listens on localhost, remote code stays off unless ticked (with a
warning), uploads are size-limited and stored under sanitised names, and nothing the workbench
writes can land outside $WORKBENCH_HOME. (Pickled weights and unticked remote code are refused
in test_bad_inputs.)"""

import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import data, paths
from core.config import TrainConfig
from core.errors import WorkbenchError
from test_pages import PAGES

ROOT = Path(__file__).resolve().parents[1]


def test_the_server_listens_on_localhost_with_the_engines_upload_limit():
    server = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]
    assert server["address"] == "127.0.0.1"
    assert server["maxUploadSize"] * 2**20 == data.MAX_UPLOAD_BYTES


def test_remote_code_is_off_unless_asked_for():
    assert TrainConfig().trust_remote_code is False


@pytest.mark.slow
def test_ticking_remote_code_on_the_train_page_warns(db):
    page = AppTest.from_file(str(PAGES / "train.py"), default_timeout=60).run()
    assert not any("own Python code" in w.value for w in page.warning)

    page.checkbox(key="trust-quick-cpu").check().run()

    assert any("own Python code will run on this machine" in w.value for w in page.warning)


@pytest.mark.parametrize("name, stored", [
    ("../../etc/passwd", "etc_passwd"),
    ("reviews 2024 (final).csv", "reviews_2024_final_.csv"),
    ("/absolute/path.csv", "absolute_path.csv"),
    ("..", "unnamed"),
])
def test_uploads_are_stored_inside_the_home_under_a_safe_name(home, name, stored):
    path = data.store_upload(b"text,label\na,b\n", name)

    assert path.parent == paths.home() / "uploads"
    assert path.name.endswith("-" + stored) and path.read_bytes() == b"text,label\na,b\n"


def test_an_upload_over_the_limit_is_refused_and_not_stored(home, monkeypatch):
    monkeypatch.setattr(data, "MAX_UPLOAD_BYTES", 10)
    with pytest.raises(WorkbenchError, match="the limit is"):
        data.store_upload(b"x" * 11, "big.csv")
    assert not (paths.home() / "uploads").exists()


def test_nothing_is_written_outside_the_home(home):
    with pytest.raises(ValueError, match="not a run id"):  # refused, not mapped onto a name
        paths.run_dir("../../../tmp/evil")
    with pytest.raises(ValueError, match="outside"):
        paths.inside_home("..", "elsewhere")
    with pytest.raises(ValueError, match="outside"):
        paths.inside_home("/etc")
