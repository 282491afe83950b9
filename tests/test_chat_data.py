"""Chat and instruction formats (tests/data/): detected, previewed, trained on a tiny model,
the loss masked to the assistant's turns token by token; bad rows counted, column mapping."""

import dataclasses
import json
from pathlib import Path

import pytest
from conftest import assert_nothing_written

from core import engine
from core.causal_data import encode_conversation, sft_rows
from core.chat_data import messages_of
from core.config import TrainConfig, settle
from core.data import load_table
from core.errors import WorkbenchError
from storage import queries

DATA = Path(__file__).resolve().parent / "data"


@pytest.mark.parametrize("name,fmt,task,columns", [
    ("alpaca.json", "alpaca", "conversation", ["messages"]),
    ("sharegpt.jsonl", "sharegpt", "conversation", ["messages"]),
    ("messages.jsonl", "messages", "conversation", ["messages"]),
    ("prompt_completion.jsonl", "prompt-completion", "summarisation", ["prompt", "response"]),
    ("preference.jsonl", "preference-messages", "preference", ["prompt", "chosen", "rejected"]),
    ("preference_sharegpt.json", "preference-sharegpt", "preference",
     ["prompt", "chosen", "rejected"]),
    ("feedback_messages.jsonl", "feedback-messages", "unpaired", ["prompt", "completion", "label"]),
    ("typed_parts.jsonl", "messages", "conversation", ["messages"]),
])
def test_each_format_is_detected_and_read_into_its_table(name, fmt, task, columns):
    table = load_table(str(DATA / name))
    assert (table.format, table.task, list(table.frame.columns)) == (fmt, task, columns)
    unused = ["not used: id (columns this reading of the file does not read)"] \
        if name == "feedback_messages.jsonl" else []
    assert len(table.frame) == 24 and table.notes == unused


def test_preference_and_feedback_prompts_keep_their_system_and_earlier_turns():
    pairs = load_table(str(DATA / "preference_sharegpt.json")).frame
    shapes = {tuple(t["role"] for t in messages_of(cell)) for cell in pairs["prompt"]}
    assert shapes == {("user",), ("system", "user"), ("user", "assistant", "user")}
    feedback = load_table(str(DATA / "feedback_messages.jsonl")).frame
    assert feedback["label"].tolist() == [i % 4 < 2 for i in range(24)]
    assert messages_of(feedback["prompt"][1])[0] == {"role": "system",
                                                     "content": "Answer with one word."}


def test_typed_text_parts_are_joined_and_a_non_text_part_refuses_the_file(tmp_path):
    first = messages_of(load_table(str(DATA / "typed_parts.jsonl")).frame["messages"][0])
    assert first[0]["content"].startswith("Review:\n") and first[1]["content"] == "positive"
    path = tmp_path / "pictures.jsonl"
    path.write_text(json.dumps({"messages": [
        {"role": "user", "content": [{"type": "text", "text": "Who is this?"},
                                     {"type": "image_url", "image_url": {"url": "x.png"}}]},
        {"role": "assistant", "content": "A cat."}]}) + "\n")
    with pytest.raises(WorkbenchError, match=r"^pictures.jsonl: row 1: a turn holds a part of "
                                             r"type 'image_url' \(not text\); the workbench "
                                             r"trains on text only \(set text_only"):
        load_table(str(path))
    asked = load_table(str(path), drop_media=True)  # the user asks for the text alone
    assert messages_of(asked.frame["messages"][0])[0]["content"] == "Who is this?"
    assert asked.notes == ["parts that are not text (images, audio) left out of 1 cell "
                           "(text_only)"]


@pytest.mark.parametrize("column", ["images", "videos", "audios"])
def test_a_multimodal_file_is_refused_before_anything_is_read(tmp_path, column):
    """LLaMA-Factory's mllm files: text with <image> marks and the media in a column."""
    path = tmp_path / "mllm.json"
    path.write_text(json.dumps([{"messages": [{"role": "user", "content": "<image>Who?"},
                                              {"role": "assistant", "content": "Kane."}],
                                 column: ["1.jpg"]}]))
    with pytest.raises(WorkbenchError, match=f"^mllm.json has {column} \\(column '{column}'\\); "
                                             "the workbench trains on text only"):
        load_table(str(path))
    asked = load_table(str(path), drop_media=True)
    assert len(asked.frame) == 1 and asked.notes == [
        f"{column} left out (text_only): the text is trained on without them"]


def test_columns_no_reading_uses_are_named(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("text,label,source,date\n" + "".join(f"good film {i},pos,web,2020\n"
                                                         f"bad film {i},neg,web,2020\n"
                                                         for i in range(10)))
    assert load_table(str(path)).notes == ["not used: source, date (columns this reading of "
                                           "the file does not read)"]


@pytest.mark.parametrize("name,method,fits", [
    ("preference_sharegpt.json", "sft", "dpo, orpo"),
    ("feedback_messages.jsonl", "dpo", "kto"),
    ("messages.jsonl", "kto", "sft"),
])
def test_a_method_the_file_does_not_fit_is_one_line_naming_those_it_fits(name, method, fits,
                                                                        home, capsys):
    from core.cli import main

    assert main(["train", "--model", "smollm2-135m", "--method", method, "--adapter", "lora",
                 "--dataset", str(DATA / name)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.rstrip().endswith(f"; it fits {fits}"), err
    assert not home.exists()


def test_alpaca_becomes_system_user_and_assistant_turns():
    first, second = load_table(str(DATA / "alpaca.json")).frame["messages"][:2]
    assert [t["role"] for t in messages_of(first)] == ["system", "user", "assistant"]
    assert [t["role"] for t in messages_of(second)] == ["user", "assistant"]  # no system given
    user = messages_of(second)[0]["content"]
    assert user.startswith("Is this review positive or negative?\n\nthe ")


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    from core.models import load_tokenizer, resolve_model

    return load_tokenizer(resolve_model("smollm2-135m"))


def learned_text(tokenizer, messages) -> str:
    ids, labels = encode_conversation(tokenizer, messages)
    assert len(ids) == len(labels)
    return tokenizer.decode([i for i, label in zip(ids, labels) if label != -100])


@pytest.mark.slow
def test_only_the_assistant_turns_carry_loss_token_by_token(smollm2_tokenizer):
    tokenizer = smollm2_tokenizer
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Review: dull plot. Positive or negative?"},
                {"role": "assistant", "content": "negative"},
                {"role": "user", "content": "And: superb acting?"},
                {"role": "assistant", "content": "positive"},
                {"role": "user", "content": "a last question nobody answers"}]
    ids, labels = encode_conversation(tokenizer, messages)
    whole = tokenizer.apply_chat_template(messages[:5], tokenize=False)
    assert ids == tokenizer(whole, add_special_tokens=False)["input_ids"]  # as the model reads it
    pieces = [(tokenizer.decode([i]), label != -100) for i, label in zip(ids, labels)]
    learned = [piece for piece, learn in pieces if learn]
    assert learned == ["negative", "<|im_end|>", "\n", "positive", "<|im_end|>", "\n"]
    # every token of the user's and the system's turns, and the assistant's headers, is masked
    assert not any(learn for piece, learn in pieces if piece in ("Be", "Review", "assistant"))


def test_the_masked_tokens_of_every_conversation_format_are_the_assistants(smollm2_tokenizer):
    for name in ("alpaca.json", "sharegpt.jsonl", "messages.jsonl"):
        for cell in load_table(str(DATA / name)).frame["messages"][:3]:
            messages = messages_of(cell)
            expected = "".join(t["content"] + "<|im_end|>\n" for t in messages
                               if t["role"] == "assistant")
            assert learned_text(smollm2_tokenizer, messages) == expected, name


def tiny_chat_config(tiny_causal, dataset: str, **extra) -> TrainConfig:
    return settle({"model": tiny_causal, "method": "sft", "dataset": dataset, "max_steps": 2,
                   "batch_size": 4, "lr": 5e-3, "max_length": 64, "max_new_tokens": 4,
                   "logging_steps": 1, "eval_size": 2, "test_size": 3, **extra})


@pytest.mark.parametrize("name,method", [("alpaca.json", "sft"), ("sharegpt.jsonl", "sft"),
                                         ("messages.jsonl", "sft"),
                                         ("prompt_completion.jsonl", "sft"),
                                         ("preference.jsonl", "dpo"),
                                         ("preference_sharegpt.json", "orpo"),
                                         ("feedback_messages.jsonl", "kto"),
                                         ("typed_parts.jsonl", "sft")])
@pytest.mark.slow
def test_each_format_trains_a_few_steps_on_a_tiny_model(db, tiny_causal, name, method):
    config = tiny_chat_config(tiny_causal, str(DATA / name), method=method)
    run_id = engine.train(config, db)
    run = queries.get_run(db, run_id)
    assert run["status"] == "completed", run["error"]
    assert [m["step"] for m in queries.run_metrics(db, run_id) if m["loss"] is not None][:2] == [1, 2]
    [tuned, original] = queries.run_evaluations(db, run_id)
    test = engine.prepare(config).splits["test"]
    judged = int(test["label"].sum()) if method == "kto" else 3  # feedback: its good answers
    assert tuned["n"] == original["n"] == judged > 0


@pytest.mark.slow
def test_a_conversation_is_judged_on_its_last_assistant_turn(db, tiny_causal):
    config = tiny_chat_config(tiny_causal, str(DATA / "sharegpt.jsonl"))
    run_id = engine.train(config, db)
    [tuned, _] = queries.run_evaluations(db, run_id)
    predictions = queries.evaluation_predictions(db, tuned["id"])
    for prediction in predictions:
        assert prediction["reference"] in ("positive", "negative")
        assert prediction["input"].startswith("system: You judge film reviews in one word.\n"
                                              "user: Review: ")
        assert "\nassistant: " in prediction["input"] and prediction["input"].count("user:") == 2


def test_without_a_chat_template_a_base_model_reads_chatml(tiny_causal):
    from core.models import load_tokenizer, resolve_model

    tokenizer = load_tokenizer(resolve_model(tiny_causal))
    assert not getattr(tokenizer, "chat_template", None)
    table = load_table(str(DATA / "messages.jsonl"))
    [row] = sft_rows(tokenizer, table.frame[:1], table, settle({}), None)
    assert any(label != -100 for label in row["labels"])


def write_jsonl(path: Path, rows: list) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def test_malformed_rows_are_counted_by_reason_and_never_dropped_in_silence(tmp_path):
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant",
                                                              "content": "hello"}]}
    rows = [good, good,
            {"messages": [{"content": "hi"}, {"role": "assistant", "content": "x"}]},
            {"messages": []},
            {"messages": [{"role": "user", "content": 42}, {"role": "assistant",
                                                              "content": "x"}]},
            {"messages": [{"role": "user", "content": 7}, {"role": "assistant", "content": "y"}]},
            {"messages": [{"role": "narrator", "content": "x"}]},
            {"messages": [{"role": "user", "content": "no answer"}]}]
    table = load_table(write_jsonl(tmp_path / "mixed.jsonl", rows))
    assert len(table.frame) == 2
    assert table.notes == [
        "1 of 8 rows has a turn without a role ('role') and was left out (first: row 3)",
        "1 of 8 rows has an empty conversation and was left out (first: row 4)",
        "2 of 8 rows have a turn that is not text and were left out (first: row 5)",
        "1 of 8 rows has a turn of role 'narrator', not one of assistant, system, tool, user and was "
        "left out (first: row 7)",
        "1 of 8 rows has no assistant turn to learn from and was left out (first: row 8)"]


def test_a_file_where_nothing_parses_is_refused_naming_the_first_bad_row(tmp_path, home):
    path = write_jsonl(tmp_path / "bad.jsonl", [
        {"conversations": [{"from": "human"}]}, {"conversations": "just text"}])
    with pytest.raises(WorkbenchError, match=r"bad.jsonl: no row is usable as ShareGPT "
                                             r"\(conversations of from / value\); row 1 has a "
                                             r"turn without its text \('value'\)"):
        load_table(path)
    with pytest.raises(WorkbenchError, match="no row is usable"):
        engine.prepare(settle({"model": "smollm2-135m", "method": "sft", "dataset": path}))
    assert_nothing_written()


def test_a_csv_keeps_its_conversations_as_json(tmp_path):
    import pandas as pd

    path = tmp_path / "chats.csv"
    turns = [{"role": "user", "content": "a, b"}, {"role": "assistant", "content": "c"}]
    pd.DataFrame({"messages": [json.dumps(turns)] * 3}).to_csv(path, index=False)
    table = load_table(str(path))
    assert table.format == "messages" and messages_of(table.frame["messages"][0]) == turns


def test_columns_of_every_shape_can_be_named(tmp_path, tiny_causal):
    import pandas as pd

    path = tmp_path / "qa.csv"
    pd.DataFrame({"question": ["q1", "q2", "q3"] * 4, "answer": ["a"] * 12,
                  "worse": ["b"] * 12}).to_csv(path, index=False)
    summaries = load_table(str(path), {"prompt": "question", "response": "answer"})
    assert summaries.task == "summarisation" and list(summaries.frame["prompt"][:2]) == ["q1", "q2"]
    pairs = load_table(str(path), {"prompt": "question", "chosen": "answer", "rejected": "worse"})
    assert pairs.task == "preference" and pairs.frame["rejected"][0] == "b"
    config = settle({"model": tiny_causal, "method": "sft", "dataset": str(path),
                     "prompt_column": "question", "response_column": "answer"})
    assert engine.prepare(config).table.task == "summarisation"
    with pytest.raises(WorkbenchError, match="the prompt and the response column are both 'x'"):
        settle({"prompt_column": "x", "response_column": "x"})
    with pytest.raises(WorkbenchError, match="column 'nope' not found; the columns are "
                                             "question, answer, worse"):
        load_table(str(path), {"prompt": "question", "response": "nope"})


def test_the_cli_names_every_column(home, tmp_path, capsys):
    from core.cli import main

    flags = {"--prompt-column": "prompt_column", "--response-column": "response_column",
             "--chosen-column": "chosen_column", "--rejected-column": "rejected_column"}
    for flag in flags:
        assert main(["train", "--model", "smollm2-135m", "--method", "sft", "--dataset",
                     "rt-reviews", flag, "x"]) == 2
        assert "column names are for uploaded files" in capsys.readouterr().err
    assert_nothing_written()


def test_conversations_cannot_be_cleaned(tiny_causal):
    config = dataclasses.replace(tiny_chat_config(tiny_causal, str(DATA / "messages.jsonl")),
                                 clean_text=True)
    with pytest.raises(WorkbenchError, match="a conversation's turns cannot be cleaned"):
        engine.prepare(config)


@pytest.mark.slow
def test_the_train_form_names_the_format_read_and_maps_columns_of_other_files(db, tmp_path):
    import pandas as pd
    from test_pages import app

    from ui.train_form import UPLOAD

    page = app("train.py").run()
    key = lambda name: f"{name}-quick-cpu"  # noqa: E731
    page.selectbox(key=key("model")).set_value("smollm2-135m").run()
    page.selectbox(key=key("method")).set_value("sft").run()
    page.selectbox(key=key("dataset-sft")).set_value(UPLOAD).run()
    chats = (DATA / "sharegpt.jsonl").read_bytes()
    page.file_uploader(key=key("upload")).set_value(("chats.jsonl", chats, "text/plain")).run()
    assert not page.exception
    captions = [c.value.replace("\u2060", "") for c in page.caption]
    assert any(c.startswith("Read as ShareGPT (conversations of from / value): each "
                            "conversation is trained on its assistant turns only") for c in captions)
    assert "24 conversations · 5.0 turns on average" in captions
    assert not [r for r in page.radio if r.key == key("file-task")]  # read by its own columns

    questions = pd.DataFrame({"question": ["q1", "q2"] * 6, "answer": ["a", "b"] * 6})
    upload = ("qa.csv", questions.to_csv(index=False).encode(), "text/csv")
    page.file_uploader(key=key("upload")).set_value(upload).run()
    page.radio(key=key("file-task")).set_value("summarisation").run()
    page.selectbox(key=key("prompt-col")).set_value("question")
    page.selectbox(key=key("response-col")).set_value("answer").run()
    assert not page.exception
    assert any("12 examples with columns prompt, response" in c.value.replace("\u2060", "")
               for c in page.caption)


@pytest.mark.parametrize("name,method,read_as", [
    ("alpaca.json", "sft", "Alpaca (instruction, input, output)"),
    ("sharegpt.jsonl", "sft", "ShareGPT (conversations of from / value)"),
    ("messages.jsonl", "sft", "OpenAI / TRL conversational (messages of role / content)"),
    ("prompt_completion.jsonl", "sft", "TRL prompt-completion (prompt, completion)"),
    ("preference.jsonl", "dpo", "TRL conversational preference (chosen / rejected turns)"),
    ("feedback_messages.jsonl", "kto", "conversational feedback (messages, true / false label)"),
])
@pytest.mark.slow
def test_each_format_is_previewed_with_what_was_detected(db, name, method, read_as):
    from test_pages import app

    from ui.train_form import UPLOAD

    page = app("train.py").run()
    key = lambda part: f"{part}-quick-cpu"  # noqa: E731
    page.selectbox(key=key("model")).set_value("smollm2-135m").run()
    page.selectbox(key=key("method")).set_value(method).run()
    page.selectbox(key=key(f"dataset-{method}")).set_value(UPLOAD).run()
    upload = (name, (DATA / name).read_bytes(), "text/plain")
    page.file_uploader(key=key("upload")).set_value(upload).run()
    assert not page.exception
    captions = [c.value.replace("\u2060", "") for c in page.caption]
    assert any(c.startswith(f"Read as {read_as}") for c in captions), captions
    assert page.expander  # the first rows
    if name == "feedback_messages.jsonl":  # its id column, named as not used
        shown = " ".join(e.value for e in [*page.caption, *page.info, *page.warning])
        assert "not used: id" in shown.replace("\u2060", ""), shown


def test_an_assistant_opening_a_conversation_is_counted_not_trained(tmp_path):
    rows = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant",
                                                              "content": "hello"}]},
            {"messages": [{"role": "system", "content": "s"}, {"role": "assistant",
                                                                "content": "I start"}]}]
    table = load_table(write_jsonl(tmp_path / "opened.jsonl", rows))
    assert len(table.frame) == 1
    assert table.notes == ["1 of 2 rows has a conversation that the assistant opens (the first "
                           "turn after any system turn must be the user's) and was left out "
                           "(first: row 2)"]


def test_json_text_that_looks_like_numbers_stays_text(tmp_path):
    path = tmp_path / "numbers.json"
    path.write_text(json.dumps([{"instruction": "2 + 2?", "output": "4"},
                                {"instruction": "Pad 12", "output": "0012"}]))
    answers = [messages_of(c)[-1]["content"] for c in load_table(str(path)).frame["messages"]]
    assert answers == ["4", "0012"]
    completions = write_jsonl(tmp_path / "pc.jsonl", [{"prompt": "a", "completion": "72"},
                                                      {"prompt": "b", "completion": ""}])
    table = load_table(completions)
    assert list(table.frame["response"]) == ["72"]
    assert table.notes == ["1 of 2 rows has an empty completion and was left out (first: row 2)"]


def test_columns_of_turns_named_as_text_and_clashing_columns_are_one_line(tmp_path):
    import pandas as pd

    turns = write_jsonl(tmp_path / "turns.jsonl", [
        {"turns": [{"role": "user", "content": "q"}], "answer": "a"}] * 3)
    with pytest.raises(WorkbenchError, match="column 'turns' holds lists or mappings"):
        load_table(turns, {"prompt": "turns", "response": "answer"})
    plain = tmp_path / "plain.csv"
    pd.DataFrame({"text": ["a", "b"] * 4, "label": ["x", "y"] * 4}).to_csv(plain, index=False)
    with pytest.raises(WorkbenchError, match="the text and the label column are both 'label'"):
        load_table(str(plain), {"text": "label"})
    twice = tmp_path / "twice.csv"
    twice.write_text("output,output\na,b\n")
    with pytest.raises(WorkbenchError, match="names the column 'output' twice in its header"):
        load_table(str(twice))


def test_an_uploaded_file_is_named_in_errors_as_it_was_uploaded(home):
    from core.data import store_upload

    path = store_upload(b'{"conversations": "not turns"}\n', "my chats.jsonl")
    assert path.name != "my chats.jsonl"  # stored under its content's digest
    with pytest.raises(WorkbenchError, match=r"^my_chats.jsonl: no row is usable"):
        load_table(str(path))


def test_a_json_file_of_one_conversation_is_one_row_and_json_errors_name_their_line(tmp_path):
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"},
                                            {"role": "assistant", "content": "hello"}]}))
    table = load_table(str(one))
    assert (table.format, len(table.frame)) == ("messages", 1)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "fine", "label": "a"}\n{"text": "cut short", "lab\n')
    with pytest.raises(WorkbenchError, match=r"^broken.jsonl could not be parsed: line 2: "):
        load_table(str(broken))
    numbers = tmp_path / "numbers.jsonl"
    numbers.write_text("1\n2\n")
    with pytest.raises(WorkbenchError, match="holds no rows: JSON objects are wanted"):
        load_table(str(numbers))


LF = DATA / "llamafactory"  # files in LLaMA-Factory's convention, with its dataset_info.json


def test_a_dataset_info_entry_beside_the_file_maps_its_columns_tags_and_ranking():
    pairs = load_table(str(LF / "pairs.json"))
    assert (pairs.task, pairs.format, len(pairs.frame)) == ("preference", "preference-sharegpt", 24)
    assert pairs.notes == ["read through dataset_info.json, entry 'pairs'"]
    first = messages_of(pairs.frame["prompt"][0])
    assert [t["role"] for t in first] == ["system", "user"]  # its `brief` column, then the turn
    assert set(pairs.frame["chosen"]) == {"positive", "negative"}
    feedback = load_table(str(LF / "feedback.json"))
    assert (feedback.task, len(feedback.frame)) == ("unpaired", 24)
    assert feedback.frame["label"].tolist() == [i % 4 < 2 for i in range(24)]


def test_a_dataset_info_given_elsewhere_is_used_and_its_mistakes_are_one_line(tmp_path):
    copy = tmp_path / "pairs.json"
    copy.write_bytes((LF / "pairs.json").read_bytes())
    with pytest.raises(WorkbenchError, match="column 'text', 'label' not found"):
        load_table(str(copy))  # no mapping beside it: its own names mean nothing here
    mapped = load_table(str(copy), info=str(LF / "dataset_info.json"))
    assert mapped.task == "preference"
    other = tmp_path / "other.json"
    other.write_bytes(copy.read_bytes())
    with pytest.raises(WorkbenchError, match="dataset_info.json has no entry whose file_name "
                                             "is other.json"):
        load_table(str(other), info=str(LF / "dataset_info.json"))
    (tmp_path / "pictures.json").write_text('[{"messages": [], "images": []}]')
    with pytest.raises(WorkbenchError, match="entry 'pictures' of dataset_info.json has "
                                             "images; the workbench trains on text only"):
        load_table(str(tmp_path / "pictures.json"), info=str(LF / "dataset_info.json"))
    with pytest.raises(WorkbenchError, match="column names or a dataset_info.json, not both"):
        load_table(str(copy), {"text": "dialogue"}, str(LF / "dataset_info.json"))


@pytest.mark.slow
@pytest.mark.parametrize("name,method", [("pairs.json", "dpo"), ("feedback.json", "kto")])
def test_a_file_trains_through_its_dataset_info_mapping(home, tiny_causal, name, method,
                                                        capsys):
    from core.cli import main

    assert main(["train", "--model", tiny_causal, "--method", method, "--dataset",
                 str(LF / name), "--max-steps", "2", "--batch-size", "4", "--eval-size", "2",
                 "--test-size", "3", "--max-length", "64", "--max-new-tokens", "4"]) == 0
    err = capsys.readouterr().err
    assert f"note: read through dataset_info.json, entry '{name[:-5]}'" in err


def test_tool_calls_are_read_with_their_tools_and_written_by_the_template(tiny_causal):
    """LLaMA-Factory's function_call / observation turns and a `tools` column (and OpenAI's
    tool_calls / tool turns): kept, and rendered through ChatML's tool turns."""
    from core.causal_data import render_turns
    from core.chat_data import tools_of
    from core.models import load_tokenizer, resolve_model

    table = load_table(str(DATA / "toolcalls.json"))
    assert (table.format, len(table.frame), table.notes) == ("sharegpt", 24, [])
    cell = table.frame["messages"][0]
    turns, tools = messages_of(cell), tools_of(cell)
    assert [t["role"] for t in turns] == ["user", "assistant", "tool", "assistant"]
    assert turns[1]["tool_calls"][0]["function"]["name"] == "score_review"
    assert tools[0]["name"] == "score_review"
    tokenizer = load_tokenizer(resolve_model(tiny_causal))  # no template of its own: ChatML
    text = render_turns(tokenizer, turns, tools=tools)
    assert '<tool_call>\n{"name": "score_review", "arguments": {"text": ' in text
    assert "<tool_response>\n{\"label\": " in text and '"name": "score_review"' in text
    ids, labels = encode_conversation(tokenizer, turns, tools)
    assert len(ids) == len(labels) and any(label != -100 for label in labels)


def test_openai_tool_calls_and_a_template_that_cannot_write_them(tmp_path, tiny_causal):
    from core.causal_data import check_renders_tool_calls
    from core.models import load_tokenizer, resolve_model

    path = write_jsonl(tmp_path / "calls.jsonl", [{"messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "assistant", "content": "It is sunny."}]}] * 3)
    turns = messages_of(load_table(path).frame["messages"][0])
    assert turns[1]["tool_calls"][0]["function"]["arguments"] == {"city": "Paris"}
    tokenizer = load_tokenizer(resolve_model(tiny_causal))
    tokenizer.chat_template = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n"
                               "{% endfor %}")
    with pytest.raises(WorkbenchError, match="does not write tool calls"):
        check_renders_tool_calls(tokenizer, turns, None)


@pytest.mark.slow
def test_tool_calls_train_through_chatml_and_are_refused_before_launch_by_a_template_without(
        db, tiny_causal, home, capsys):
    from core.cli import main

    config = tiny_chat_config(tiny_causal, str(DATA / "toolcalls.json"), max_length=512)
    run = queries.get_run(db, engine.train(config, db))
    assert run["status"] == "completed", run["error"]
    assert main(["train", "--model", "smollm2-135m", "--method", "sft", "--adapter", "lora",
                 "--dataset", str(DATA / "toolcalls.json"), "--max-steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "does not write tool calls" in err and "chat_template 'model'" in err
    assert len(queries.list_runs(db)) == 1  # nothing recorded for the refused one
