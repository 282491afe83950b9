"""The catalog, and resolving what a user types into a loadable model."""

import json
import time

import pytest

from core import paths
from core.catalog import DATASETS, MODELS
from core.errors import WorkbenchError
from core.models import local_dir, resolve_model


def test_catalog_has_the_bundled_and_preset_entries():
    assert {"minilm-l6", "smollm2-135m", "distilbert-base-uncased", "bert-base-uncased",
            "pythia-70m", "mistral-7b-instruct", "gemma-2b", "llama-3-8b"} <= set(MODELS)
    assert {"rt-reviews", "aclsum", "imdb", "glue/sst2", "rotten_tomatoes",
            "meta-review"} <= set(DATASETS)
    assert all(m.kind in ("encoder", "causal") and m.params for m in MODELS.values())


def test_bundled_encoder_resolves_to_its_package_folder():
    source = resolve_model("minilm-l6")
    assert source.kind == "encoder"
    config = json.loads((__import__("pathlib").Path(source.location) / "config.json").read_text())
    assert config["num_hidden_layers"] == 6


def test_local_folder_is_resolved_with_its_kind(tiny_encoder):
    source = resolve_model(tiny_encoder)
    assert (source.kind, source.location) == ("encoder", tiny_encoder)


def test_unknown_hub_id_offline_is_a_clear_error():
    with pytest.raises(WorkbenchError, match=r"model 'nobody/no-such-model' is not in the catalog "
                                             r"nor a local folder, and could not be downloaded"):
        resolve_model("nobody/no-such-model")


def test_folder_without_a_config_is_named(tmp_path):
    with pytest.raises(WorkbenchError, match="folder without a transformers config"):
        resolve_model(str(tmp_path))


@pytest.mark.slow
def test_gguf_model_is_converted_once_and_a_shared_cache_serves_another_home(home, tmp_path,
                                                                           monkeypatch):
    monkeypatch.delenv(paths.MODEL_CACHE)  # the home's own cache, empty
    source = resolve_model("smollm2-135m")
    assert source.kind == "causal"
    folder = local_dir(source)
    cache = paths.model_cache_dir() / "smollm2-135m"
    assert folder == str(cache) and cache.parent == home / "models"
    assert (cache / "model.safetensors").stat().st_size > 400e6  # dequantised to float32
    config = json.loads((cache / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    assert [p.name for p in cache.parent.iterdir()] == ["smollm2-135m"]  # no partial left

    started = time.perf_counter()
    assert local_dir(source) == folder
    assert time.perf_counter() - started < 1.0  # the second time is a lookup, not a conversion
    # Another home told to share this cache converts nothing and writes nothing of its own.
    monkeypatch.setenv(paths.MODEL_CACHE, str(home / "models"))
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "second"))
    started = time.perf_counter()
    assert local_dir(resolve_model("smollm2-135m")) == folder
    assert time.perf_counter() - started < 1.0 and not (tmp_path / "second").exists()


def test_a_chunked_bundled_model_with_a_part_missing_is_refused_in_one_line(home, monkeypatch):
    import importlib

    monkeypatch.delenv(paths.MODEL_CACHE)  # the home's own cache, empty
    from core import models
    from core.errors import WorkbenchError

    spec = MODELS["gemma3-270m"]

    def missing(path):
        raise FileNotFoundError("Missing chunk files: gemma-3-270m-q4_k_m.gguf.part03")

    monkeypatch.setattr(importlib.import_module(spec.package), "assemble", missing)
    with pytest.raises(WorkbenchError, match="missing or damaged part .*part03.*run workbench assets"):
        models.local_dir(models.resolve_model("gemma3-270m"))
    assert not any((home / "models").glob("gemma3-270m*"))  # no half-made cache left
