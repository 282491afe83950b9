"""GGUF export: a causal run merged, converted by llama.cpp's converter, read back through
transformers' GGUF loader and matched against the merged model; refusals write nothing."""

import importlib.util
import json

import pytest

from core import paths
from core.errors import WorkbenchError
from storage.db import connect

pytestmark = pytest.mark.slow  # converts the bundled model (minutes)


@pytest.fixture
def lora_run(home):
    """A finished LoRA run of the bundled smollm2-135m, its adapters nudged off zero so that
    merging them changes the model (as training does)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from core.models import load_causal, load_tokenizer, resolve_model, save_model

    source = resolve_model("smollm2-135m")
    tokenizer = load_tokenizer(source)
    model = get_peft_model(load_causal(source), LoraConfig(r=4, target_modules=["q_proj"]))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, weights in model.named_parameters():
            if "lora_B" in name:
                weights.normal_(0, 0.02)
    save_model(model, tokenizer, paths.run_dir("run-lora") / "model", source, "lora", None)
    connect(paths.db_path())["runs"].insert({
        "id": "run-lora", "name": "lora", "model": "smollm2-135m", "method": "sft",
        "dataset": "d", "status": "completed", "config": "{}", "created_at": "2026-01-01"})
    return "run-lora"


def test_a_q8_0_export_loads_back_and_continues_as_the_merged_model(lora_run, capsys):
    from core.cli import main

    assert main(["export", lora_run, "--format", "gguf", "--quant", "q8_0"]) == 0
    out, err = capsys.readouterr()
    path = paths.home() / "exports" / "run-lora-gguf-q8_0" / "run-lora.q8_0.gguf"
    assert out.strip() == str(path) and path.stat().st_size > 50e6
    found = json.loads((path.parent / "check.json").read_text())
    assert found["prompts"] == 4 and found["same_continuations"] >= 3, found
    assert found["max_logprob_difference"] < 0.5, found  # q8_0 rounds the weights a little
    assert "greedy continuations (16 tokens) the same as the merged model's" in err
    if importlib.util.find_spec("llama_cpp"):  # the optional extra: llama.cpp checks it too
        assert found["llama_cpp"]["same_continuations"] >= 1, found
        assert "; llama.cpp itself: " in err
    else:
        assert "llama_cpp" not in found and "llama.cpp itself not checked" in err
    modelfile = (path.parent / "Modelfile").read_text()
    assert "FROM ./run-lora.q8_0.gguf" in modelfile and 'PARAMETER stop "' in modelfile
    assert [p.name for p in (paths.home() / "exports").iterdir()] == ["run-lora-gguf-q8_0"]


def test_gguf_refusals_write_nothing(lora_run, tmp_path, monkeypatch):
    from core.gguf_export import export_gguf

    with pytest.raises(WorkbenchError, match="unknown GGUF type 'q4'"):
        export_gguf(lora_run, "q4")
    with pytest.raises(WorkbenchError, match="run nobody has no saved model"):
        export_gguf("nobody")
    monkeypatch.setenv("WORKBENCH_GGUF_CONVERTER", str(tmp_path / "none"))
    with pytest.raises(WorkbenchError, match="GGUF export needs llama.cpp's converter in .*"
                                             "run workbench assets"):
        export_gguf(lora_run)
    assert not (paths.home() / "exports").exists()


def test_an_encoder_run_is_not_exported_as_gguf(home, tiny_encoder):
    from transformers import AutoModelForSequenceClassification

    from core.gguf_export import export_gguf
    from core.models import load_tokenizer, resolve_model, save_model

    source = resolve_model(tiny_encoder)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_encoder, num_labels=2)
    save_model(model, load_tokenizer(source), paths.run_dir("run-enc") / "model", source, "none",
               ["neg", "pos"])
    connect(paths.db_path())["runs"].insert({
        "id": "run-enc", "name": "enc", "model": tiny_encoder, "method": "trainer",
        "dataset": "d", "status": "completed", "config": "{}", "created_at": "2026-01-01"})
    with pytest.raises(WorkbenchError, match="trained an encoder .*GGUF is for causal"):
        export_gguf("run-enc")
