"""LLaMA-Factory's `dataset_info.json`: a user's existing mapping, read as they wrote it.

An entry names its file (`file_name`), the file's `formatting` (`alpaca` or `sharegpt`),
which of its columns hold what (`columns`), for ShareGPT the keys and role names of its
turns (`tags`), and whether its rows are preference pairs (`ranking`). The file's rows are
turned into the shapes core.chat_data reads (Alpaca columns, or ShareGPT `conversations`
with `chosen` / `rejected` or a `label`), so that everything after reads it as any other file.
The mapping is the one beside the data file, or the one given (`--dataset-info`).
"""

import json
from pathlib import Path

import pandas as pd

from core.errors import WorkbenchError

FILE_NAME = "dataset_info.json"
ALPACA = {"prompt": "instruction", "query": "input", "response": "output", "system": "system"}
SHAREGPT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                 "assistant_tag": "gpt", "system_tag": "system",
                 "observation_tag": "observation", "function_tag": "function_call"}
MEDIA = ("images", "videos", "audios")


def entry_for(data: Path, given: str | None = None) -> tuple[str, dict] | None:
    """The (name, entry) of the mapping that describes `data`: from `given`, or else from a
    dataset_info.json beside it (none there: None)."""
    info = Path(given) if given else data.parent / FILE_NAME
    if not info.is_file():
        if given:
            raise WorkbenchError(f"dataset info file not found: {given}")
        return None
    try:
        entries = json.loads(info.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WorkbenchError(f"{info.name} could not be parsed: {error}") from None
    if not isinstance(entries, dict):
        raise WorkbenchError(f"{info.name} must map data set names to their entries")
    found = [(name, e) for name, e in entries.items()
             if isinstance(e, dict) and Path(str(e.get("file_name", ""))).name == data.name]
    if not found and given:
        raise WorkbenchError(f"{info.name} has no entry whose file_name is {data.name}")
    return found[0] if found else None


def mapped(frame: pd.DataFrame, name: str, entry: dict, source: str,
           drop_media: bool = False) -> pd.DataFrame:
    """The file's rows in the shape core.chat_data reads, as the entry describes them (its
    media columns kept under their own names, for core.chat_data.text_only to refuse or drop)."""
    columns = entry.get("columns") or {}
    media = [key for key in MEDIA if key in columns]
    if media and not drop_media:
        raise WorkbenchError(f"{source}: entry '{name}' of {FILE_NAME} has {media[0]}; the "
                             "workbench trains on text only (set text_only, --text-only, to "
                             "train on the text alone)")
    formatting = entry.get("formatting", "alpaca")
    if formatting not in ("alpaca", "sharegpt"):
        raise WorkbenchError(f"{source}: entry '{name}' of {FILE_NAME} has formatting "
                             f"'{formatting}'; alpaca and sharegpt are read")
    wanted = [c for key, c in columns.items() if key not in ("tools", "history")]
    absent = [c for c in wanted if c not in frame.columns]
    if absent:
        raise WorkbenchError(f"{source}: entry '{name}' of {FILE_NAME} names column "
                             f"'{absent[0]}', which the file does not have")
    if formatting == "alpaca":
        return alpaca_frame(frame, columns, entry)
    return sharegpt_frame(frame, columns, {**SHAREGPT_TAGS, **(entry.get("tags") or {})}, entry)


def alpaca_frame(frame: pd.DataFrame, columns: dict, entry: dict) -> pd.DataFrame:
    renamed = frame.rename(columns={columns.get(key, ours): ours for key, ours in ALPACA.items()
                                    if columns.get(key, ours) in frame.columns})
    renamed = renamed.rename(columns={columns[key]: key for key in MEDIA if key in columns})
    if entry.get("ranking"):  # chosen / rejected answers to one instruction: text pairs
        prompts = [f"{i}\n\n{q}" if isinstance(q, str) and q.strip() else i
                   for i, q in zip(renamed["instruction"],
                                   renamed.get("input", pd.Series([""] * len(renamed))))]
        return pd.DataFrame({"prompt": prompts,
                             "chosen": frame[columns.get("chosen", "chosen")],
                             "rejected": frame[columns.get("rejected", "rejected")]})
    if "kto_tag" in columns:
        return pd.DataFrame({"prompt": renamed["instruction"], "completion": renamed["output"],
                             "label": frame[columns["kto_tag"]]})
    return renamed


def sharegpt_frame(frame: pd.DataFrame, columns: dict, tags: dict,
                   entry: dict) -> pd.DataFrame:
    """ShareGPT as core.chat_data reads it (`conversations` of from / value with the usual
    role names, and `chosen` / `rejected`, or `label`), the keys and roles translated by the
    entry's tags; a system column becomes the first turn."""
    standard = {tags["user_tag"]: "human", tags["assistant_tag"]: "gpt",
                tags["system_tag"]: "system", tags["observation_tag"]: "observation",
                tags["function_tag"]: "function_call"}
    keys = (tags["role_tag"], tags["content_tag"])

    def turn(cell):
        if not isinstance(cell, dict):
            return cell  # left for the reader to count as a bad turn
        role = cell.get(keys[0])
        return {"from": standard.get(role, role), "value": cell.get(keys[1])}

    def turns(cell):
        return [turn(t) for t in cell] if isinstance(cell, list) else cell

    out = pd.DataFrame({"conversations":
                        frame[columns.get("messages", "conversations")].map(turns)})
    system = columns.get("system")
    if system:
        out["conversations"] = [([{"from": "system", "value": s}] if isinstance(s, str) and s
                                 else []) + (m if isinstance(m, list) else [])
                                for s, m in zip(frame[system], out["conversations"])]
    if entry.get("ranking"):
        for part in ("chosen", "rejected"):
            out[part] = frame[columns.get(part, part)].map(
                lambda c: turn(c) if isinstance(c, dict) else turns(c))
    elif "kto_tag" in columns:
        out["label"] = frame[columns["kto_tag"]]
    for key in ("tools", *MEDIA):
        if key in columns:
            out[key] = frame[columns[key]]
    return out
