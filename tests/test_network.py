"""Whether the hub is reachable, and the one line a hub download that cannot happen shows."""

import socket
import time

import pytest

from core import network
from core.errors import WorkbenchError
from core.models import ModelSource, load_tokenizer, pretrained_weights, resolve_model

OFFLINE_LINE = "could not be downloaded from the Hugging Face hub (HF_HUB_OFFLINE is set"


@pytest.fixture
def asked_again(monkeypatch):
    """hub_reachable() asked afresh, with no offline setting unless a test sets one."""
    for name in network.OFFLINE_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    network.hub_reachable.cache_clear()
    yield
    network.hub_reachable.cache_clear()


def refuse(*args, **kwargs):
    raise AssertionError("no connection may be tried")


@pytest.mark.parametrize("setting", network.OFFLINE_SETTINGS)
def test_an_offline_setting_means_offline_without_trying_to_connect(asked_again, monkeypatch,
                                                                    setting):
    monkeypatch.setenv(setting, "1")
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert network.hub_reachable() is False


def test_a_false_setting_does_not_mean_offline(asked_again, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert network.offline_setting() is None


def test_a_connection_that_opens_means_reachable_and_is_asked_once(asked_again, monkeypatch):
    tried = []

    class Connection:
        def close(self):
            pass

    def connect(address, timeout):
        tried.append((address, timeout))
        return Connection()

    monkeypatch.setattr(socket, "create_connection", connect)
    assert network.hub_reachable() and network.hub_reachable()
    assert tried == [(("huggingface.co", 443), network.CONNECT_TIMEOUT_S)]


def test_a_refused_connection_means_unreachable(asked_again, monkeypatch):
    def connect(address, timeout):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "create_connection", connect)
    assert network.hub_reachable() is False


def test_a_hanging_look_up_is_given_up_within_two_seconds(asked_again, monkeypatch):
    def hang(address, timeout):  # as a name look-up with no DNS answer does
        time.sleep(5)
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "create_connection", hang)
    started = time.monotonic()
    assert network.hub_reachable() is False
    assert time.monotonic() - started < 2.5


def test_a_proxy_is_where_the_connection_goes(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert network.hub_address() == ("proxy.example", 3128)


def test_hub_entries_are_marked_only_while_the_hub_is_out_of_reach(monkeypatch):
    from core.catalog import DATASETS, MODELS

    monkeypatch.setattr(network, "hub_reachable", lambda: False)
    assert network.availability_note(MODELS["pythia-70m"]) == " (needs a network)"
    assert network.availability_note(DATASETS["imdb"]) == " (needs a network)"
    assert network.availability_note(MODELS["minilm-l6"]) == ""
    monkeypatch.setattr(network, "hub_reachable", lambda: True)
    assert network.availability_note(MODELS["pythia-70m"]) == ""


# Loads of a made-up hub id under HF_HUB_OFFLINE=1 (conftest): one line, no hub address.

def assert_one_offline_line(error, name: str, looked: str = "") -> None:
    assert f"'{name}' {looked}{OFFLINE_LINE}" in str(error.value), error.value
    assert "\n" not in str(error.value) and "https://" not in str(error.value)


def test_a_hub_model_id_offline_is_one_line():
    with pytest.raises(WorkbenchError) as error:
        resolve_model("made-up/no-such-model")
    assert_one_offline_line(error, "made-up/no-such-model",
                            "is not in the catalog nor a local folder, and ")
    assert "pick a bundled model (minilm-l6" in str(error.value)


def test_hub_model_weights_offline_are_one_line():
    from transformers import AutoModelForSequenceClassification

    source = ModelSource("made-up/weights", "encoder", "made-up/weights")
    with pytest.raises(WorkbenchError) as error:
        pretrained_weights(AutoModelForSequenceClassification, source)
    assert_one_offline_line(error, "made-up/weights")


def test_a_hub_tokenizer_offline_is_one_line():
    with pytest.raises(WorkbenchError) as error:
        load_tokenizer(ModelSource("made-up/tokenizer", "encoder", "made-up/tokenizer"))
    assert_one_offline_line(error, "made-up/tokenizer")


def test_a_catalog_hub_model_offline_is_one_line_naming_its_catalog_id():
    from core.memory import architecture

    with pytest.raises(WorkbenchError) as error:
        architecture(resolve_model("pythia-70m"))
    assert_one_offline_line(error, "pythia-70m")


def test_a_hub_data_set_offline_is_one_line():
    from core.data import load_table

    with pytest.raises(WorkbenchError) as error:
        load_table("made-up/no-such-data")
    assert_one_offline_line(error, "made-up/no-such-data")
    assert "pick a bundled data set (rt-reviews, aclsum), or upload a file" in str(error.value)


def test_a_failure_that_is_not_the_network_passes_through():
    with pytest.raises(ValueError, match="bad config"):
        with network.hub_download("some/model", "model"):
            raise ValueError("bad config")


def test_a_hub_out_of_reach_makes_the_process_offline_before_any_download(asked_again,
                                                                        monkeypatch):
    """Else the hub client retries each request five times (about 23 s, a warning line
    each) before the one line comes: found by a fresh install with no network."""
    import huggingface_hub.constants

    def unreachable(address, timeout):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    started = time.monotonic()
    with pytest.raises(WorkbenchError, match="could not be downloaded from the Hugging Face hub "
                                             r"\(no network reaches it\)"):
        resolve_model("nobody/no-such-model")
    assert huggingface_hub.constants.HF_HUB_OFFLINE is True
    assert time.monotonic() - started < 15  # no retries (they take about 23 s)
