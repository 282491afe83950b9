"""Chat and instruction data in the shapes people bring it, read into the workbench's tables.

A file's format is told by its columns:

- Alpaca: `instruction`, `output`, optional `input` and `system`;
- ShareGPT: `conversations`, a list of {from, value} turns (human / gpt / system);
- OpenAI / TRL conversational: `messages`, a list of {role, content} turns;
- TRL prompt-completion: `prompt`, `completion` (text);
- TRL conversational preference: `chosen` and `rejected` as lists of turns (and `prompt`
  as one, or implicit: the turns the two share).

Alpaca, ShareGPT and messages become a `conversation` table: one column `messages`,
each cell the conversation as JSON ([{"role": "system" | "user" | "assistant",
"content": text}, …]), so that the table hashes, splits and previews as any other.
Prompt-completion becomes a summarisation table (prompt / response), conversational
preference a preference table (prompt / chosen / rejected as text). A row that is not
a usable conversation (a turn without a role, an unknown role, content that is not
text, no assistant turn, nothing at all) is left out and counted in a note naming the
reason; a file in which no row is usable is refused, naming the first bad row.
"""

import json
from dataclasses import dataclass

import pandas as pd

from core.errors import WorkbenchError
from core.notes import left_out, not_used

ROLES = ("system", "user", "assistant", "tool")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "bing": "assistant", "bard": "assistant",
                  "system": "system", "observation": "tool", "tool": "tool",
                  "function_call": "call"}  # (LLaMA-Factory's tool turns)


@dataclass
class Format:
    name: str  # as the preview says it
    task: str  # the table it becomes
    columns: tuple  # what a file needs to be read as it
    optional: tuple = ()  # what it also reads when there


FORMATS = {
    "alpaca": Format("Alpaca (instruction, input, output)", "conversation",
                     ("instruction", "output"), ("input", "system")),
    "sharegpt": Format("ShareGPT (conversations of from / value)", "conversation",
                       ("conversations",), ("tools",)),
    "messages": Format("OpenAI / TRL conversational (messages of role / content)",
                       "conversation", ("messages",), ("tools",)),
    "preference-messages": Format("TRL conversational preference (chosen / rejected turns)",
                                  "preference", ("chosen", "rejected"), ("prompt",)),
    "preference-sharegpt": Format("ShareGPT preference (conversations, chosen / rejected)",
                                  "preference", ("conversations", "chosen", "rejected")),
    "preference-openai": Format("OpenAI preference (messages, chosen / rejected)",
                                "preference", ("messages", "chosen", "rejected")),
    "feedback-messages": Format("conversational feedback (messages, true / false label)",
                                "unpaired", ("messages",), ("label", "kto_tag")),
    "feedback-sharegpt": Format("ShareGPT feedback (conversations, true / false label)",
                                "unpaired", ("conversations",), ("label", "kto_tag")),
    "prompt-completion": Format("TRL prompt-completion (prompt, completion)", "summarisation",
                                ("prompt", "completion")),
}


FEEDBACK_LABELS = {"label", "kto_tag"}  # TRL's and LLaMA-Factory's names for the verdict


class BadRow(Exception):
    """Why one row is not a usable conversation (counted, then left out)."""


def strict_json(text: str):
    """JSON text's value; an object naming a key twice is refused (json.loads would keep the
    last, and which of the two the writer meant cannot be told)."""
    return json.loads(text, object_pairs_hook=unique_keys)


def unique_keys(pairs: list) -> dict:
    keys = [key for key, _ in pairs]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise WorkbenchError(f"a JSON object gives {', '.join(repr(k) for k in twice)} twice; "
                             "which one is meant cannot be told")
    return dict(pairs)


def detect(frame: pd.DataFrame) -> str | None:
    """The chat format a file's columns say, or None for the workbench's own columns
    (text / label, prompt / response, prompt / chosen / rejected of text, …)."""
    columns = set(frame.columns)
    if {"instruction", "output"} <= columns:
        return "alpaca"
    for turns, name in (("conversations", "sharegpt"), ("messages", "openai")):
        if turns in columns and {"chosen", "rejected"} <= columns:
            return f"preference-{name}"
        if turns in columns and columns & FEEDBACK_LABELS:
            return f"feedback-{'sharegpt' if turns == 'conversations' else 'messages'}"
    if "conversations" in columns:
        return "sharegpt"
    if "messages" in columns:
        return "messages"
    if {"chosen", "rejected"} <= columns and looks_like_turns(frame["chosen"]):
        return "preference-messages"
    if {"prompt", "completion"} <= columns and "label" not in columns:
        return "prompt-completion"
    return None


def looks_like_turns(cells: pd.Series) -> bool:
    """Whether a column holds lists of turns (or their JSON, as a CSV keeps them)."""
    first = next((c for c in cells if c is not None and not (isinstance(c, float) and pd.isna(c))),
                 None)
    return isinstance(parsed(first), list)


def parsed(cell):
    """A cell as the JSON value it holds, where it is JSON text of a list (CSV)."""
    if isinstance(cell, str) and cell.lstrip().startswith("["):
        try:
            return strict_json(cell)
        except json.JSONDecodeError:
            return cell
    return cell


MEDIA_COLUMNS = ("images", "image", "videos", "video", "audios", "audio")


TURN_COLUMNS = ("messages", "conversations", "chosen", "rejected", "prompt")


def text_only(frame: pd.DataFrame, source: str, drop: bool) -> tuple[pd.DataFrame, list[str]]:
    """A multimodal file (LLaMA-Factory's `images`, `videos`, `audios` columns, or turns with
    image or audio parts) would train on its text with the media silently lost: refused in
    one line, or, when the user asks (`drop`, the text_only setting), its media left out and
    said in a note."""
    media = [c for c in frame.columns if str(c).lower() in MEDIA_COLUMNS]
    if media and not drop:
        raise WorkbenchError(f"{source} has {media[0]} (column '{media[0]}'); the workbench "
                             "trains on text only: remove the column, or set text_only "
                             "(--text-only) to train on the text alone")
    notes = [f"{', '.join(map(str, media))} left out (text_only): the text is trained on "
             "without them"] if media else []
    if not drop:
        return frame, notes
    kept = frame.drop(columns=media)
    dropped = 0
    for column in [c for c in TURN_COLUMNS if c in kept.columns]:
        cleaned = kept[column].map(without_media_parts)
        dropped += int((cleaned.map(repr) != kept[column].map(repr)).sum())
        kept[column] = cleaned
    if dropped:
        notes.append(f"parts that are not text (images, audio) left out of {dropped:,} "
                     f"cell{'s' * (dropped != 1)} (text_only)")
    return kept, notes


def without_media_parts(cell):
    """A cell of turns with every content part that is not text taken out."""
    cell = parsed(cell)
    if not isinstance(cell, list):
        return cell
    return [dict(turn, **{key: [p for p in turn[key] if not isinstance(p, dict)
                                or p.get("type") in TEXT_PART_TYPES]
                          for key in ("content", "value") if isinstance(turn.get(key), list)})
            if isinstance(turn, dict) else turn for turn in cell]


def unused_columns(frame: pd.DataFrame, fmt: str) -> list:
    read_here = {*FORMATS[fmt].columns, *FORMATS[fmt].optional}
    return [c for c in frame.columns if c not in read_here]


def read(frame: pd.DataFrame, fmt: str, source: str) -> tuple[pd.DataFrame, list[str]]:
    """The file's rows as the format's table (see the module's docstring), and a note per
    reason rows were left out (and one naming the columns it does not read)."""
    reader = {"alpaca": alpaca_row, "sharegpt": sharegpt_row, "messages": messages_row,
              "preference-messages": preference_row,
              "preference-sharegpt": lambda row: paired_row(row, "conversations", SHARE),
              "preference-openai": lambda row: paired_row(row, "messages", OPENAI),
              "feedback-messages": lambda row: feedback_row(row, "messages", OPENAI),
              "feedback-sharegpt": lambda row: feedback_row(row, "conversations", SHARE),
              "prompt-completion": prompt_completion_row}[fmt]
    rows, bad = [], {}
    for number, row in enumerate(frame.to_dict("records"), 1):
        try:
            rows.append(reader(row))
        except BadRow as reason:
            bad.setdefault(str(reason), []).append(number)
        except WorkbenchError as error:  # the whole file is refused: where, and why
            raise WorkbenchError(f"{source}: row {number}: {error}") from None
    if not rows:
        reason, numbers = next(iter(bad.items()))
        raise WorkbenchError(f"{source}: no row is usable as {FORMATS[fmt].name}; row "
                             f"{numbers[0]} has {reason}")
    notes = [left_out(len(numbers), len(frame), reason) + f" (first: row {numbers[0]})"
             for reason, numbers in bad.items()]
    return pd.DataFrame(rows), [*notes, *filter(None, [not_used(unused_columns(frame, fmt)),
                                                        unread_turn_keys(frame)])]


READ_TURN_KEYS = {"role", "content", "from", "value", "tool_calls"}


def unread_turn_keys(frame: pd.DataFrame) -> str | None:
    """A note naming the keys of turns the workbench does not read (a turn's `weight`, which
    some trainers read as "learn from this turn or not", its `name`), with how many turns
    hold each: read without them, never dropped in silence."""
    counts: dict[str, int] = {}
    for column in (c for c in TURN_COLUMNS if c in frame):
        for cell in frame[column]:
            turns = parsed(cell)
            for turn in turns if isinstance(turns, list) else []:
                for key in turn.keys() - READ_TURN_KEYS if isinstance(turn, dict) else ():
                    counts[str(key)] = counts.get(str(key), 0) + 1
    if not counts:
        return None
    return "turn keys not read (their turns are read without them): " + ", ".join(
        f"{key} in {count:,} turn{'s' * (count > 1)}" for key, count in sorted(counts.items()))


def missing(value) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value))


def text(value, what: str, filled: bool = False) -> str:
    """`value`, which must be text (and, `filled`, not only white space)."""
    if missing(value):
        raise BadRow(f"no {what.split(' ', 1)[1]}")
    if not isinstance(value, str):
        raise BadRow(f"{what} that is not text")
    if filled and not value.strip():
        raise BadRow(f"an empty {what.split(' ', 1)[1]}")
    return value


def conversation(turns: list[dict], tools: list | None = None) -> dict:
    """A checked conversation as the table's one cell: the JSON of its turns, or, where it
    calls functions, of {"messages": turns, "tools": schemas}."""
    if not turns:
        raise BadRow("an empty conversation")
    if not any(t["role"] == "assistant" for t in turns):
        raise BadRow("no assistant turn to learn from")
    if next(t["role"] for t in turns if t["role"] != "system") != "user":
        raise BadRow("a conversation that the assistant opens (the first turn after any "
                     "system turn must be the user's)")
    if all(not t["content"].strip() and not t.get("tool_calls")
           for t in turns if t["role"] == "assistant"):
        raise BadRow("only empty assistant turns")
    calls = tools or any(t["role"] == "tool" or t.get("tool_calls") for t in turns)
    cell = {"messages": turns, "tools": tools} if calls else turns
    return {"messages": json.dumps(cell, ensure_ascii=False)}


def alpaca_row(row: dict) -> dict:
    instruction = text(row.get("instruction"), "an instruction", filled=True)
    given = row.get("input")
    given = "" if missing(given) else text(given, "an input")
    system = row.get("system")
    turns = [] if missing(system) or system == "" else \
        [{"role": "system", "content": text(system, "a system prompt")}]
    user = f"{instruction}\n\n{given}" if given.strip() else instruction
    turns += [{"role": "user", "content": user},
              {"role": "assistant", "content": text(row.get("output"), "an output")}]
    return conversation(turns)


def turns_of(cell, role_key: str, content_key: str, roles: dict) -> list[dict]:
    """A list of turns (or its JSON) as [{role, content}], each role mapped by `roles`."""
    cell = parsed(cell)
    if missing(cell) or cell == []:
        raise BadRow("an empty conversation")
    if not isinstance(cell, list):
        raise BadRow("a conversation that is not a list of turns")
    turns = []
    for turn in cell:
        if not isinstance(turn, dict):
            raise BadRow("a turn that is not a mapping")
        if turn.get(role_key) is None:
            raise BadRow(f"a turn without a role ('{role_key}')")
        role = roles.get(str(turn[role_key]).lower())
        if role is None:  # (tool turns among them: function_call, observation, tool)
            raise BadRow(f"a turn of role '{str(turn[role_key])[:40]}', not one of "
                         f"{', '.join(sorted(roles))}")
        if role == "call" or (role == "assistant" and turn.get("tool_calls")):
            turns.append(tool_call_turn(turn, content_key))
            continue
        if missing(turn.get(content_key)):
            raise BadRow(f"a turn without its text ('{content_key}')")
        turns.append({"role": role, "content": text(joined_parts(turn[content_key]), "a turn")})
    return turns


def tool_call_turn(turn: dict, content_key: str) -> dict:
    """An assistant turn that calls functions, as chat templates take it: `tool_calls` of
    {"type": "function", "function": {name, arguments}}. From LLaMA-Factory's function_call
    turn (its text the JSON of one call or a list of them) or OpenAI's `tool_calls`."""
    given = turn.get("tool_calls") or parsed_json(turn.get(content_key))
    calls = given if isinstance(given, list) else [given]
    normal = []
    for call in calls:
        function = call.get("function", call) if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise BadRow("a function call that is not JSON with a name")
        arguments = parsed_json(function.get("arguments", {}))
        normal.append({"type": "function",
                       "function": {"name": function["name"], "arguments": arguments}})
    said = turn.get(content_key) if turn.get("tool_calls") else None
    return {"role": "assistant", "content": said if isinstance(said, str) else "",
            "tool_calls": normal}


def parsed_json(value):
    """JSON text as its value (anything else as it is)."""
    if isinstance(value, str):
        try:
            return strict_json(value)
        except json.JSONDecodeError:
            return value
    return value


def tools_in(row: dict) -> list | None:
    """A row's function schemas (a `tools` column: a JSON list, or its text)."""
    tools = parsed_json(row.get("tools"))
    if missing(tools) or tools in ("", []):
        return None
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise BadRow("tools that are not a JSON list of function schemas")
    return tools


TEXT_PART_TYPES = ("text", "input_text", "output_text")


def joined_parts(content):
    """A turn's content: text, or a list of typed parts (OpenAI's [{"type": "text", "text": …}],
    LLaMA-Factory's newer files' "value") whose texts are joined by a line break. A part that is
    not text (an image, audio) refuses the whole file: the workbench trains on text only."""
    if not isinstance(content, list):
        return content
    texts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in TEXT_PART_TYPES:
            raise WorkbenchError(f"a turn holds a part of type '{kind}' (not text); "
                                 "the workbench trains on text only (set text_only, "
                                 "--text-only, to train on the text alone)")
        texts.append(text(part.get("text", part.get("value")), "a text part"))  # OpenAI's, LF's
    return "\n".join(texts)


def sharegpt_row(row: dict) -> dict:
    return conversation(turns_of(row.get("conversations"), *SHARE), tools_in(row))


def messages_row(row: dict) -> dict:
    return conversation(turns_of(row.get("messages"), *OPENAI), tools_in(row))


def preference_row(row: dict) -> dict:
    """TRL's conversational preference: chosen / rejected as lists of turns, the prompt given
    as turns or implicit (the turns the two share); each answer is one assistant turn."""
    chosen, rejected = turns_of(row.get("chosen"), *OPENAI), turns_of(row.get("rejected"), *OPENAI)
    if not missing(row.get("prompt")):
        prompt = turns_of(row["prompt"], *OPENAI)
    else:
        shared = 0
        while shared < min(len(chosen), len(rejected)) - 1 and chosen[shared] == rejected[shared]:
            shared += 1
        prompt, chosen, rejected = chosen[:shared], chosen[shared:], rejected[shared:]
    return {"prompt": prompt_turns(prompt), **paired_answers(chosen, rejected)}


def paired_answers(chosen: list[dict], rejected: list[dict]) -> dict:
    for answer in (chosen, rejected):
        if [t["role"] for t in answer] != ["assistant"]:
            raise BadRow("a chosen or rejected answer that is not one assistant turn")
    if chosen[0]["content"] == rejected[0]["content"]:
        raise BadRow("a chosen answer that is the rejected one")
    return {"chosen": text(chosen[0]["content"], "a chosen answer", filled=True),
            "rejected": text(rejected[0]["content"], "a rejected answer", filled=True)}


SHARE = ("from", "value", SHAREGPT_ROLES)
OPENAI = ("role", "content", {r: r for r in ROLES})


def prompt_turns(turns: list[dict]) -> str:
    """A conversation that an answer follows (a system turn first or not, the user's turn
    last), as the table's JSON cell: the trainers read it through the chat template."""
    body = turns[1:] if turns and turns[0]["role"] == "system" else turns
    if not body or body[-1]["role"] != "user" or \
            any(t["role"] != ("user", "assistant")[i % 2] for i, t in enumerate(body)):
        raise BadRow("a prompt that is not user and assistant turns in turn, ending with the "
                     "user's")
    return json.dumps(turns, ensure_ascii=False)


def one_answer(cell, shape: tuple) -> str:
    """An answer given as one assistant turn, a list of one, or text."""
    cell = parsed(cell)
    if isinstance(cell, str):
        return text(cell, "an answer", filled=True)
    turns = turns_of([cell] if isinstance(cell, dict) else cell, *shape)
    if [t["role"] for t in turns] != ["assistant"]:
        raise BadRow("a chosen or rejected answer that is not one assistant turn")
    return text(turns[0]["content"], "an answer", filled=True)


def paired_row(row: dict, column: str, shape: tuple) -> dict:
    """LLaMA-Factory's and OpenAI's preference rows: a conversation, then a chosen and a
    rejected answer to its last user turn."""
    chosen, rejected = one_answer(row.get("chosen"), shape), one_answer(row.get("rejected"), shape)
    if chosen == rejected:
        raise BadRow("a chosen answer that is the rejected one")
    return {"prompt": prompt_turns(turns_of(row.get(column), *shape)), "chosen": chosen,
            "rejected": rejected}


def feedback_row(row: dict, column: str, shape: tuple) -> dict:
    """Unpaired feedback: a conversation whose last turn is the assistant's answer, judged
    desirable or not by `label` (TRL) or `kto_tag` (LLaMA-Factory)."""
    turns = turns_of(row.get(column), *shape)
    if turns[-1]["role"] != "assistant":
        raise BadRow("a conversation that does not end with the answer judged")
    verdict = row.get("label", row.get("kto_tag"))
    verdict = {"true": True, "false": False}.get(str(verdict).strip().lower(), verdict)
    if not isinstance(verdict, bool):
        raise BadRow("a label that is not true or false")
    return {"prompt": prompt_turns(turns[:-1]),
            "completion": text(turns[-1]["content"], "an answer", filled=True), "label": verdict}


def is_conversational(table) -> bool:
    """Whether a preference or feedback table's prompts are conversations (JSON turns)."""
    return table.format is not None and table.format.startswith(("preference-", "feedback-"))


def prompt_completion_row(row: dict) -> dict:
    return {"prompt": text(row.get("prompt"), "a prompt", filled=True),
            "response": text(row.get("completion"), "a completion", filled=True)}


def messages_of(cell: str) -> list[dict]:
    """A conversation table's cell as its turns."""
    value = json.loads(cell)
    return value["messages"] if isinstance(value, dict) else value


def calls_tools(cell: str) -> bool:
    """Whether a conversation cell calls functions (stored with its tools, see `conversation`)."""
    return isinstance(json.loads(cell), dict)


def tools_of(cell: str) -> list | None:
    """The function schemas a conversation may call (None: it calls none)."""
    value = json.loads(cell)
    return value.get("tools") if isinstance(value, dict) else None
