"""Judging a causal run on labelled data: the labels' answers scored, or answers generated."""

import dataclasses

import numpy as np
import pytest

from conftest import assert_nothing_written
from core import causal_data, causal_eval, causal_run, cli
from core.engine import prepare, train
from core.errors import WorkbenchError
from core.models import load_causal, load_tokenizer, resolve_model
from storage import queries


@pytest.fixture
def quick(causal_config):
    """A few steps are enough: these tests are about the judging, not the learning."""
    return dataclasses.replace(causal_config, max_steps=3, eval_size=8, test_size=12)


def judged_run(db, config) -> list[tuple[dict, list[dict]]]:
    run_id = train(config, db)
    assert queries.get_run(db, run_id)["status"] == "completed"
    return [(e, queries.evaluation_predictions(db, e["id"]))
            for e in queries.run_evaluations(db, run_id)]


@pytest.mark.slow
def test_scoring_reads_the_tokens_each_prompt_and_answer_pair_reads(tiny_causal):
    """The cached scorer against the plain one (each pair in one forward pass), prompts of
    several lengths, answers of several tokens; with and without a shared beginning."""
    source = resolve_model(tiny_causal)
    tokenizer, model = load_tokenizer(source), load_causal(source)
    prompts = causal_data.classification_prompts(
        tokenizer, ["great film", "the plot was dull and the actor tedious", "fun"],
        ["neg", "pos"], 64)
    answers = [" neg", " pos", " very good", " bad film and dull plot"]
    for rows in ([causal_data.encode_prompt(tokenizer, p) for p in prompts],
                 [[9, 10, 11], [12, 13], [14, 15, 16, 17]]):  # nothing shared
        fast = causal_eval.answer_logprobs(model, tokenizer, rows, answers, batch_size=2)
        plain = [[causal_eval.completion_logprobs(model, tokenizer, [row], [answer], 1)[0][0]
                  for answer in answers] for row in rows]
        np.testing.assert_allclose(fast, plain, atol=1e-4)
    assert causal_eval.shared_length([[1, 2, 3], [1, 2, 3, 4]]) == 2  # the last runs with its own


@pytest.mark.slow
def test_a_scored_run_gives_every_example_a_label_and_its_probability(db, quick):
    for evaluation, predictions in judged_run(db, quick):  # tuned, then original
        assert evaluation["template"] == "sft prompt (score)"
        assert evaluation["unparseable"] == 0 and evaluation["n"] == len(predictions) == 12
        assert {p["prediction"] for p in predictions} <= {"neg", "pos"}
        assert all(0.5 <= p["score"] <= 1 and p["output"] is None for p in predictions)


@pytest.mark.slow
def test_a_generated_run_keeps_the_written_answers(db, quick):
    for evaluation, predictions in judged_run(db, dataclasses.replace(quick, judge="generate")):
        assert evaluation["template"] == "sft prompt (generate)"
        assert evaluation["n"] == len(predictions) == 12
        assert all(p["score"] is None and isinstance(p["output"], str) for p in predictions)
        named = [p for p in predictions if p["prediction"] is not None]
        assert len(predictions) - len(named) == evaluation["unparseable"]


def test_both_judges_read_the_same_split_of_the_same_model(quick, tiny_causal):
    source = resolve_model(tiny_causal)
    tokenizer, model = load_tokenizer(source), load_causal(source)
    reports = {judge: causal_run.judge(model, tokenizer,
                                       prepare(dataclasses.replace(quick, judge=judge)))
               for judge in ("score", "generate")}
    scored, generated = reports["score"], reports["generate"]
    assert scored[0]["n"] == generated[0]["n"] == 12
    assert [p["input"] for p in scored[1]] == [p["input"] for p in generated[1]]
    assert [p["reference"] for p in scored[1]] == [p["reference"] for p in generated[1]]


def test_an_unknown_judge_is_refused_with_nothing_written(db, quick, tmp_path, capsys):
    with pytest.raises(WorkbenchError, match="^unknown judge 'guess'; choose from score, "
                                             "generate$"):
        train(dataclasses.replace(quick, judge="guess"), db)
    path = tmp_path / "run.yaml"
    path.write_text(f"method: sft\nmodel: {quick.model}\njudge: guess\n")
    assert cli.main(["train", "--config", str(path)]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "unknown judge 'guess'" in err and err.count("\n") == 1, err
    assert_nothing_written()
