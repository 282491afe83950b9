"""A finished run as a standalone model folder: adapters merged into their base (S8)."""

from pathlib import Path

from core import paths
from core.errors import WorkbenchError
from core.models import load_tokenizer, pretrained_weights, resolve_model, run_model_dir


def export_model(run_id: str, name: str | None = None) -> Path:
    """Write the run's model, merged, to exports/<name or run id> under the home (outputs
    never land outside it)."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    if run_model_dir(run_id) is None:
        raise WorkbenchError(f"run {run_id} has no saved model (unknown id, or it failed before "
                             "saving)")
    source = resolve_model(run_id)
    auto_class = AutoModelForCausalLM if source.kind == "causal" else AutoModelForSequenceClassification
    folder = paths.inside_home("exports", paths.safe_name(name or run_id))
    model = pretrained_weights(auto_class, source)  # adapters are merged on loading
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    load_tokenizer(source).save_pretrained(folder)
    return folder
