"""The playground engine: streaming, settings, classifiers' probabilities and the model cache."""

import dataclasses
import threading

import pytest

from core import playground
from core.errors import WorkbenchError
from core.playground import GenerationSettings, Loaded, ModelCache, Request

GREEDY = GenerationSettings(max_new_tokens=8)


@pytest.fixture(scope="module")
def causal_model(tiny_causal):
    return playground.load(tiny_causal)


def answer(loaded, request, settings=GREEDY):
    """Every streamed text, and the final Result."""
    events = list(playground.answer(loaded, request, settings))
    return events[:-1], events[-1]


def test_an_output_is_streamed_as_it_grows_then_timed(causal_model):
    pieces, result = answer(causal_model, Request("great film", task="raw"))
    assert pieces, "nothing was streamed before the result"
    assert all(b.startswith(a) for a, b in zip(pieces, pieces[1:]))
    assert pieces[-1].strip() == result.output
    assert 1 <= result.new_tokens <= 8
    assert result.latency >= result.first_token > 0
    assert result.tokens_per_second == pytest.approx(result.new_tokens / result.latency)


def test_an_answer_dropped_mid_stream_stops_its_generation(causal_model):
    """A page rerun drops the answer it was showing: its generation must not go on unseen.
    4096 tokens take the tiny model far longer than the few seconds allowed here."""
    events = playground.answer(causal_model, Request("great film", task="raw"),
                               GenerationSettings(max_new_tokens=4096))
    next(events)
    workers = [t for t in threading.enumerate() if t.name == f"playground-{causal_model.id}"]
    events.close()
    for worker in workers:
        worker.join(timeout=10)
    assert workers and not any(worker.is_alive() for worker in workers)


def test_greedy_repeats_and_a_sampling_seed_reproduces(causal_model):
    request = Request("the plot was", task="raw")
    assert answer(causal_model, request)[1].output == answer(causal_model, request)[1].output
    hot = GenerationSettings(max_new_tokens=12, temperature=5.0, top_p=1.0, seed=3)
    first = answer(causal_model, request, hot)[1].output
    assert answer(causal_model, request, hot)[1].output == first
    others = {answer(causal_model, request, dataclasses.replace(hot, seed=s))[1].output
              for s in range(4, 8)}
    assert others - {first}, "different seeds never changed a sample at temperature 5"


def test_a_causal_model_gives_label_probabilities_on_a_classify_task(causal_model):
    request = Request("great superb film", task="classify", label_names=("neg", "pos"))
    result = answer(causal_model, request)[1]
    assert set(result.probabilities) == {"neg", "pos"}
    assert sum(result.probabilities.values()) == pytest.approx(1.0)
    assert "pos" in playground.causal_prompt(causal_model.tokenizer, request)


@pytest.mark.slow
def test_a_trained_encoder_run_classifies_with_its_label_names(db, tiny_config):
    from core.engine import train

    run_id = train(dataclasses.replace(tiny_config, adapter="lora", epochs=1), db)
    loaded = playground.load(run_id)
    assert loaded.kind == "encoder" and loaded.labels == ("neg", "pos")
    pieces, result = answer(loaded, Request("superb brilliant moving film"))
    assert pieces == [] and result.output in ("neg", "pos")
    assert sum(result.probabilities.values()) == pytest.approx(1.0)
    assert result.output == max(result.probabilities, key=result.probabilities.get)


def test_an_encoder_without_a_trained_head_is_refused(tiny_encoder):
    with pytest.raises(WorkbenchError, match="without a trained classification head"):
        playground.load(tiny_encoder)


@pytest.mark.parametrize("settings, message", [
    (GenerationSettings(max_new_tokens=0), "max new tokens"),
    (GenerationSettings(temperature=-1), "temperature"),
    (GenerationSettings(top_p=0), "top-p"),
])
def test_impossible_settings_are_refused(causal_model, settings, message):
    with pytest.raises(WorkbenchError, match=message):
        answer(causal_model, Request("hello"), settings)


@pytest.mark.parametrize("request_, message", [
    (Request("   "), "type an input"),
    (Request("hi", task="classify", label_names=("only",)), "two label names"),
    (Request("hi", task="poem"), "unknown task"),
])
def test_bad_requests_are_refused(causal_model, request_, message):
    with pytest.raises(WorkbenchError, match=message):
        answer(causal_model, request_)


class Counting:
    """A loader that makes fake models of a given size and counts its calls."""

    def __init__(self, sizes):
        self.sizes, self.calls = sizes, []

    def __call__(self, model_id, trust_remote_code=False):
        self.calls.append(model_id)
        return Loaded(model_id, "causal", None, None, None, 0.0, self.sizes[model_id])


def test_the_cache_keeps_models_and_evicts_the_least_recently_used_when_memory_runs_short():
    loader = Counting({"a": 40, "b": 40, "c": 40})
    cache = ModelCache(budget_bytes=100, loader=loader)
    cache.get("a"), cache.get("b"), cache.get("a")
    assert loader.calls == ["a", "b"]  # the second "a" came from the cache
    cache.get("c")  # 120 > 100: "b" was used least recently
    assert [m for m, _ in cache.contents()] == ["a", "c"] and cache.evicted == ["b"]
    assert cache.used() == 80


def test_a_model_bigger_than_the_budget_still_loads_alone():
    cache = ModelCache(budget_bytes=100, loader=Counting({"a": 40, "huge": 300}))
    cache.get("a"), cache.get("huge")
    assert [m for m, _ in cache.contents()] == ["huge"]


@pytest.mark.slow
def test_an_example_is_drawn_from_the_test_split_of_a_bundled_data_set():
    from core.data import load_table, split_table

    first, second = playground.draw_example("rt-reviews", 0), playground.draw_example("rt-reviews", 1)
    assert first["task"] == "classify" and first["label_names"] == ("rotten", "fresh")
    test = split_table(load_table("rt-reviews"), 42)["test"]
    assert first["text"] in set(test["text"]) and first["reference"] in ("rotten", "fresh")
    assert first["text"] != second["text"]
    assert playground.draw_example("rt-reviews", 0) == first


def test_an_encoder_run_saved_without_label_names_is_named_as_such(home):
    import json

    from core import paths

    from storage import queries
    from storage.db import connect

    db = connect(paths.db_path())
    db["runs"].insert({"id": "20250101-000000-abcdef", "model": "minilm-l6", "method": "trainer",
                       "dataset": "rt-reviews", "status": "completed", "config": "{}",
                       "created_at": "2025-01-01"})
    assert queries.get_run(db, "20250101-000000-abcdef") is not None
    folder = paths.run_dir("20250101-000000-abcdef") / "model"
    folder.mkdir(parents=True)
    (folder / "workbench.json").write_text(json.dumps({"kind": "encoder", "base": "minilm-l6"}))
    with pytest.raises(WorkbenchError, match="trained before runs kept their label names"):
        playground.load("20250101-000000-abcdef")


def test_a_chat_continues_with_the_models_own_earlier_answers(causal_model):
    history = (("user", "great film"), ("assistant", "superb"), ("user", "and the plot"),
               ("assistant", "dull"))
    prompt = playground.causal_prompt(causal_model.tokenizer,
                                      Request("and the actor", history=history))
    # the tiny model has no chat template: ChatML, as its conversations train
    assert prompt == ("<|im_start|>user\ngreat film<|im_end|>\n<|im_start|>assistant\nsuperb"
                      "<|im_end|>\n<|im_start|>user\nand the plot<|im_end|>\n<|im_start|>"
                      "assistant\ndull<|im_end|>\n<|im_start|>user\nand the actor<|im_end|>\n"
                      "<|im_start|>assistant\n")
    _, result = answer(causal_model, Request("and the actor", history=history))
    assert 1 <= result.new_tokens <= 8
    for request, message in [(Request("x", task="raw", history=history), "only a chat"),
                             (Request("x", history=(("narrator", "x"),)), "user's or the")]:
        with pytest.raises(WorkbenchError, match=message):
            request.check()


def test_a_chosen_template_and_system_prompt_leave_the_cached_tokenizer_alone(causal_model):
    tokenizer = causal_model.tokenizer
    prompt = playground.causal_prompt(tokenizer, Request("great film", chat_template="chatml",
                                                         system_prompt="Be brief."))
    assert prompt == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\ngreat film"
                      "<|im_end|>\n<|im_start|>assistant\n")
    assert not getattr(tokenizer, "chat_template", None)  # the cached model's own, untouched
    with pytest.raises(WorkbenchError, match="the system prompt is empty"):
        Request("x", system_prompt=" ").check()
