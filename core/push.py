"""A finished run on the Hugging Face hub: its model folder and a model card made from the run.

The folder is what the run saved (LoRA adapters with their base named, or the whole
tuned model) and its tokenizer; the card (README.md) says what it was trained on, how,
with which settings, and how it scored, with the Original vs Tuned table, and the
run.yaml that reproduces it. Uploaded through `huggingface_hub`'s HfApi (a private
repository with `private=True`); tests hand in a local stand-in for it. Offline, or
without a token, it fails in one line before anything is uploaded.
"""

import html
import json
import math
import os
import re

from core.catalog import DATASETS, MODELS
from core.config import from_stored, to_yaml
from core.errors import WorkbenchError
from core.models import RUN_MODEL_FILE, run_model_dir
from core.network import is_network_failure, offline_setting
from core.results import original_vs_tuned
from storage import queries
from storage.run_names import short

REPO_ID = "namespace/name"


def push_run(db, run_id: str, repo: str, private: bool = False, api=None) -> str:
    """Upload the run's model and card to `repo` (created if missing); the repository's URL."""
    run = queries.get_run(db, run_id)
    folder = run_model_dir(run_id) if run else None
    if run is None or run["status"] != "completed" or folder is None:
        raise WorkbenchError(f"run {run_id} is not a completed run with a saved model; only "
                             "those can be pushed")
    check_repo_id(repo)
    if api is None:
        if (setting := offline_setting()):
            raise WorkbenchError(f"cannot push to the Hugging Face hub: {setting} is set, so "
                                 "this machine is offline")
        from huggingface_hub import HfApi

        api = HfApi()
    card = model_card(run, queries.run_evaluations(db, run_id))
    try:
        url = api.create_repo(repo, private=private, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo, ignore_patterns=[RUN_MODEL_FILE],
                          commit_message=f"Finetune Workbench run {run_id}")
        api.upload_file(path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id=repo,
                        commit_message="Model card")
    except Exception as error:  # the hub client raises many kinds: say which, in one line
        raise WorkbenchError(push_failure(error, repo)) from None
    return str(url)


def check_repo_id(repo: str) -> None:
    """namespace/name, as the hub client itself checks it (ASCII letters, digits, '-', '_',
    '.'; no '--' or '..', no '-' or '.' at either end)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo)
    except HFValidationError:
        valid = False
    else:
        valid = repo.count("/") == 1
    if not valid:
        raise WorkbenchError(f"'{repo}' is not a hub repository id ({REPO_ID}: ASCII letters, "
                             "digits, '-', '_' and '.'; no '--' or '..', nor '-' or '.' at "
                             "either end)")


def push_failure(error: Exception, repo: str) -> str:
    if is_network_failure(error):
        return f"cannot push to the Hugging Face hub: no network reaches it ({repo} unchanged)"
    status = getattr(getattr(error, "response", None), "status_code", None)
    if status in (401, 403):
        return (f"the hub refused to write {repo} (HTTP {status}): log in with `hf auth login` "
                "or set HF_TOKEN to a token that may write there")
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return f"pushing to {repo} failed: {type(error).__name__}: {first}"


def base_model(model: str) -> str | None:
    """The hub id of what the run started from, where there is one."""
    spec = MODELS.get(model)
    if spec is not None:
        return spec.hub_id or spec.upstream
    return model if model.count("/") == 1 and not os.path.exists(model) else None


def model_card(run: dict, evaluations: list[dict]) -> str:
    config = from_stored(run["config"])
    facts = json.loads((run_model_dir(run["id"]) / RUN_MODEL_FILE).read_text())
    base = base_model(config.model)
    data = DATASETS.get(config.dataset)
    meta = {"library_name": "peft" if facts.get("adapter_of") else "transformers",
            "base_model": base,
            "pipeline_tag": "text-generation" if facts["kind"] == "causal" else
            "text-classification",
            "tags": ["finetune-workbench", config.method] +
                    ([config.adapter] if config.adapter != "none" else []),
            "datasets": [data.hub_name] if data is not None and data.hub_name else None}
    front = "\n".join(f"{k}: {json.dumps(v)}" for k, v in meta.items() if v)
    lines = [f"---\n{front}\n---", f"# {markdown_text(run['name'])}", "",
             f"Fine-tuned with Finetune Workbench from `{short(config.model)}`"
             + (f" ({base})" if base and base != config.model else "") +
             f" on `{short(config.dataset)}` by `{config.method}`"
             + (f" with {config.adapter} adapters" if config.adapter != "none" else "") + ".", ""]
    lines += ["## Results on the held-out test split", ""]
    lines += markdown_table(original_vs_tuned(evaluations)) if evaluations else \
        ["(no test evaluation)"]
    lines += ["", "## Settings", "", "| setting | value |", "|---|---|"]
    lines += [f"| {k} | {table_cell(v)} |" for k, v in config.to_dict().items() if v is not None]
    settings = to_yaml(config).rstrip()
    fence = "`" * max(3, 1 + max(map(len, re.findall("`+", settings)), default=0))
    lines += ["", "## Reproduce", "", f"{fence}yaml", settings, fence, "",
              "`python -m core train --config run.yaml` with the run.yaml above (a local data "
              "file or model is named by its path on the machine that trained it).", ""]
    return "\n".join(lines)


def markdown_text(text: str) -> str:
    """User text in Markdown as it was typed: HTML and Markdown's marks escaped."""
    text = html.escape(str(text), quote=False)
    return re.sub(r"([\\`*_\[\]|~])", r"\\\1", text)


def table_cell(value) -> str:
    """A setting in a Markdown table cell: its marks escaped, on one line."""
    return markdown_text(value).replace("\n", "<br>")


def markdown_table(frame) -> list[str]:
    columns = ["model", *frame.columns]
    rows = [[str(index), *(cell(v) for v in row)] for index, row in
            zip(frame.index, frame.itertuples(index=False))]
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(row) + " |" for row in rows)]


def cell(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.3f}"
    return str(value)
