"""Finding a model by what the user typed, and loading it safely.

Weights load as safetensors only, and `trust_remote_code` stays off unless the
user turns it on. The bundled GGUF model is dequantised once into a
safetensors folder under $WORKBENCH_HOME: about 20 s the first time, then
well under a second. A finished run's id names its trained model; a run that
trained adapters is its base model with the adapters merged in.
"""

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from core import paths, progress
from core.catalog import MODELS, ModelSpec, kind_of, package_dir
from core.errors import WorkbenchError
from core.network import hub_download


@dataclass(frozen=True)
class ModelSource:
    id: str  # what the user typed
    kind: str  # "encoder" or "causal"
    location: str  # a local folder, or a hub id for from_pretrained
    spec: ModelSpec | None = None
    adapter_of: str | None = None  # a run's adapters: the model id they were trained on
    labels: tuple[str, ...] | None = None  # a trained classifier's label names


RUN_MODEL_FILE = "workbench.json"  # in a run's model folder: what it was trained from


def resolve_model(model_id: str, trust_remote_code: bool = False) -> ModelSource:
    """Catalog id, finished run id, local folder or hub id -> where to load it from and what it is."""
    run_model = run_model_dir(model_id)
    if run_model is not None:
        facts = json.loads((run_model / RUN_MODEL_FILE).read_text())
        labels = tuple(facts["labels"]) if facts.get("labels") else None
        return ModelSource(model_id, facts["kind"], str(run_model), None, facts.get("adapter_of"),
                           labels)
    if model_id in MODELS:
        spec = MODELS[model_id]
        location = _bundled_location(spec) if spec.source == "bundled" else spec.hub_id
        return ModelSource(model_id, spec.kind, location, spec)
    config = _load_config(model_id, trust_remote_code)
    check_safetensors_folder(Path(model_id))
    return ModelSource(model_id, kind_of(config), model_id, labels=trained_labels(config))


PICKLED_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt")


def check_safetensors_folder(folder: Path) -> None:
    """Refuse, before a run is written, a local folder whose weights are only pickled: loading
    a pickle can run code. (A hub id is checked when its weights load.)"""
    if not folder.is_dir() or any(folder.glob("*.safetensors")):
        return
    if any(f for pattern in PICKLED_WEIGHTS for f in folder.glob(pattern)):
        raise WorkbenchError(f"model '{folder}' has no safetensors weights, only pickled ones; "
                             "the workbench loads only safetensors (pickled weights can run code)")


def trained_labels(config) -> tuple[str, ...] | None:
    """The label names of a checkpoint that already is a sequence classifier, else None."""
    architectures = getattr(config, "architectures", None) or []
    if not any(a.endswith("ForSequenceClassification") for a in architectures):
        return None
    return tuple(config.id2label[i] for i in range(config.num_labels))


def run_model_dir(model_id: str) -> Path | None:
    """The model folder of a finished run with this id, if there is one."""
    if not model_id or model_id in MODELS or paths.safe_name(model_id) != model_id:
        return None  # a hub id or a folder: never a run's id
    run = recorded_run(model_id)
    if run is None:
        return None
    folder = run_folder(run) / "model"
    return folder if (folder / RUN_MODEL_FILE).is_file() else None


def run_folder(run: dict) -> Path:
    """Where a run's files are: the folder its worker recorded (a Ray run's is in the
    cluster's shared storage; at a URI, copied into this home on first use), else its
    folder in this home."""
    output = run.get("output_dir")
    if output and "://" in output:
        from core.ray_backend import fetch

        return fetch(output, paths.run_dir(run["id"]))
    return Path(output) if output else paths.run_dir(run["id"])


def recorded_run(run_id: str) -> dict | None:
    """The run's row: a folder alone (copied in, or left by a deleted run) names no run, and
    is never used as one."""
    from storage import queries
    from storage.db import connect

    if not paths.db_path().is_file():
        return None
    return queries.get_run(connect(paths.db_path()), run_id)


def save_model(model, tokenizer, folder: Path, base: ModelSource, adapter: str,
               labels: list[str] | None = None) -> None:
    """Save a trained model (or only its adapters) so that the run's id loads it anywhere.

    A classifier's label names are kept beside it: an adapter folder has no config to hold them.
    Written beside `folder` and moved into place at the end, so that a full disk or a crash
    part-way leaves the previous model (or none), never half of one.
    """
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        facts = {"kind": base.kind, "base": base.id, "labels": labels,
                 "adapter_of": base.id if adapter in ("lora", "qlora") else None}
        (partial / RUN_MODEL_FILE).write_text(json.dumps(facts))
        paths.usual_modes(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)


def _bundled_location(spec: ModelSpec) -> str:
    from core import assets

    base = package_dir(spec.package)
    if base is None or not assets.installed(spec.id):
        raise WorkbenchError(assets.missing_line(spec.id))
    return str(base / spec.subdir) if spec.subdir else str(base)


def _load_config(model_id: str, trust_remote_code: bool):
    from transformers import AutoConfig

    folder = Path(model_id)
    if folder.exists() and not (folder / "config.json").is_file():
        raise WorkbenchError(f"model '{model_id}' is a folder without a transformers config.json")
    try:
        # Said as what it was taken for: a mistyped folder is looked for on the hub too.
        with hub_download(model_id, "model", unknown=True):
            return AutoConfig.from_pretrained(model_id, trust_remote_code=trust_remote_code)
    except ValueError as error:
        if "trust_remote_code" in str(error):
            raise WorkbenchError(f"model '{model_id}' runs its own code; tick 'trust remote code' "
                                 "only if you trust its authors") from None
        raise WorkbenchError(f"model '{model_id}' has a config transformers cannot read: "
                             f"{str(error).splitlines()[0]}") from None
    except OSError:
        raise WorkbenchError(f"model '{model_id}' is not in the catalog, not a local folder, and "
                             "the Hugging Face hub could not provide it (offline, gated, or no "
                             "such model)") from None


def local_dir(source: ModelSource) -> str:
    """A folder or hub id that `from_pretrained` reads without extra arguments."""
    if source.spec is None or source.spec.gguf_file is None:
        return source.location
    cache = paths.model_cache_dir() / source.id
    if not (cache / "model.safetensors").exists():
        progress.say(f"converting {source.id} to safetensors (once: later loads take a second)")
        if source.spec.chunked:
            _convert_chunked(source.spec, cache)
        else:
            _convert_gguf(Path(source.location), source.spec.gguf_file, cache)
    return str(cache)


def _convert_chunked(spec: ModelSpec, target: Path) -> None:
    """Join the chunk packages into one GGUF (the package checks its sha256), convert it,
    and drop the joined file: the safetensors cache is all that is read afterwards."""
    import importlib

    joined = target.with_name(f"{target.name}.gguf-{os.getpid()}")
    shutil.rmtree(joined, ignore_errors=True)
    try:
        importlib.import_module(spec.package).assemble(joined / spec.gguf_file)
    except (ImportError, FileNotFoundError, ValueError) as error:  # missing, or sha256 wrong
        raise WorkbenchError(f"bundled model '{spec.id}' has a missing or damaged part ({error}): "
                             "run workbench assets (or: python -m core assets)") from None
    try:
        _convert_gguf(joined, spec.gguf_file, target)
    finally:
        shutil.rmtree(joined, ignore_errors=True)


def _convert_gguf(folder: Path, gguf_file: str, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    # A folder of this process's own (a shared cache may be filled by two at once), renamed
    # last, so that a conversion killed half-way is never taken for a cache.
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=gguf_file, quantization_config=GgufConfig(dequantize=True)
    )
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    if (target / "model.safetensors").exists():  # another process finished first
        shutil.rmtree(partial)
        return
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


def pretrained_weights(auto_class, source: ModelSource, trust_remote_code: bool = False, **kwargs):
    """`auto_class.from_pretrained` from safetensors only, with a run's adapters merged in."""
    if source.adapter_of:
        return _merged_run_model(auto_class, source, trust_remote_code, **kwargs)
    try:
        with hub_download(source.id, "model"):
            return auto_class.from_pretrained(local_dir(source), use_safetensors=True,
                                              trust_remote_code=trust_remote_code, **kwargs)
    except OSError as error:
        if "safetensors" in str(error).lower():
            raise WorkbenchError(f"model '{source.id}' has no safetensors weights; the workbench "
                                 "loads only safetensors (pickled weights can run code)") from None
        raise WorkbenchError(f"model '{source.id}' could not be loaded: "
                             f"{str(error).splitlines()[0]}") from None


def _merged_run_model(auto_class, source: ModelSource, trust_remote_code: bool, **kwargs):
    from peft import PeftModel

    base_source = resolve_model(source.adapter_of, trust_remote_code)
    base = pretrained_weights(auto_class, base_source, trust_remote_code, **kwargs)
    match_vocabulary(base, load_tokenizer(source, trust_remote_code))
    return PeftModel.from_pretrained(base, source.location).merge_and_unload()


def match_vocabulary(model, tokenizer) -> None:
    """Grow the embeddings when training added a token (a dedicated pad) to the tokenizer."""
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))


def load_tokenizer(source: ModelSource, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    with hub_download(source.id, "model"):
        tokenizer = AutoTokenizer.from_pretrained(local_dir(source),
                                                  trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        # A dedicated pad token would grow the vocabulary; for classification the
        # end-of-text token serves, as padded positions are masked out anyway.
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer


def load_classifier(source: ModelSource, label_names: list[str], trust_remote_code: bool = False):
    """A sequence-classification model with a fresh head for these labels."""
    from transformers import AutoModelForSequenceClassification

    model = pretrained_weights(
        AutoModelForSequenceClassification, source, trust_remote_code,
        num_labels=len(label_names),
        id2label=dict(enumerate(label_names)),
        label2id={name: i for i, name in enumerate(label_names)},
    )
    if model.config.pad_token_id is None:
        model.config.pad_token_id = load_tokenizer(source, trust_remote_code).pad_token_id
    return model


def load_causal(source: ModelSource, trust_remote_code: bool = False):
    """A causal language model in evaluation mode, float32 on the CPU, on the GPU if there is one."""
    from transformers import AutoModelForCausalLM

    model = pretrained_weights(AutoModelForCausalLM, source, trust_remote_code)
    return model.to(inference_device()).eval()


def inference_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total
