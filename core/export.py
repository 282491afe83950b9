"""A finished run as a standalone model folder: adapters merged into their base (as the Llama-3 ORPO recipe ships it).

An export never replaces a folder unless asked (`overwrite=True`), and is written to a
hidden folder beside its place and renamed into it only once complete: a full disk or a
crash midway leaves no half model that loads wrong later.
"""

import io
import shutil
import uuid
import zipfile
from pathlib import Path

from core import paths
from core.errors import WorkbenchError
from core.failures import write_failure
from core.models import load_tokenizer, pretrained_weights, resolve_model, run_model_dir


def export_model(run_id: str, name: str | None = None, overwrite: bool = False) -> Path:
    """Write the run's model, merged, to exports/<name or run id> under the home (outputs
    never land outside it); an existing folder there is replaced only with `overwrite`."""
    saved_source(run_id)
    folder = export_folder(name or run_id, overwrite)
    model, tokenizer = merged(resolve_model(run_id))
    write_whole(folder, lambda into: (model.save_pretrained(into), tokenizer.save_pretrained(into)))
    return folder


def exports_of(run_id: str) -> list[Path]:
    """The run's exports under their default names: the merged folder, and a GGUF folder per
    type (an export given another name is the user's to find)."""
    root, stem = paths.home() / "exports", paths.safe_name(run_id)
    return sorted(p for p in [root / stem, *root.glob(f"{stem}-gguf-*")] if p.is_dir())


def zipped(folder: Path) -> bytes:
    """The folder as a zip holding it by name (stored, not compressed: weights do not shrink)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{folder.name}/{path.relative_to(folder)}")
    return buffer.getvalue()


def saved_source(run_id: str):
    """The run's model, refused when it saved none."""
    if run_model_dir(run_id) is None:
        raise WorkbenchError(f"run {run_id} has no saved model (unknown id, or it failed before "
                             "saving)")
    return resolve_model(run_id)


def export_folder(name: str, overwrite: bool) -> Path:
    """exports/<name> under the home; refused when it exists and `overwrite` is not given
    (asked before loading anything: the answer costs nothing)."""
    folder = paths.inside_home("exports", paths.safe_name(name))
    if folder.exists() and not overwrite:
        raise WorkbenchError(f"{folder} already exists; choose another name (--name) or "
                             "replace it (--overwrite)")
    return folder


def merged(source):
    """The model with its adapters merged in (on loading), and its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    auto_class = AutoModelForCausalLM if source.kind == "causal" else AutoModelForSequenceClassification
    return pretrained_weights(auto_class, source), load_tokenizer(source)


def write_whole(folder: Path, save) -> None:
    """`save(into)` into a temporary folder beside `folder`, then the temporary folder renamed
    to `folder` (replacing it): either the whole export is there or none of it."""
    # Beside the folder, so that the rename stays on one file system; by mkdir rather than
    # mkdtemp, so that the export gets the usual permissions, not mkdtemp's owner-only ones.
    partial = folder.with_name(f".{folder.name}.partial-{uuid.uuid4().hex[:12]}")
    try:
        partial.mkdir(parents=True)
        save(partial)
        paths.usual_modes(partial)
        replace(partial, folder)
    except Exception as error:  # a full disk, a read-only place: the user's to fix, in one line
        said = write_failure(error, folder)
        if said is None:
            raise
        raise WorkbenchError(f"{said}; it was left as it was") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def replace(new: Path, folder: Path) -> None:
    """`new` renamed to `folder`; an existing `folder` is moved aside first and put back if the
    rename fails."""
    if not folder.exists():
        new.rename(folder)
        return
    old = new.with_name(new.name.replace(".partial-", ".old-"))
    folder.rename(old)
    try:
        new.rename(folder)
    except OSError:
        old.rename(folder)
        raise
    shutil.rmtree(old, ignore_errors=True)
