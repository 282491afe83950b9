"""One short run on the real bundled model and data: what a new user's first run does."""

from core import engine
from core.config import TrainConfig
from storage import queries


def test_minilm_trainer_run_on_rt_reviews(db):
    config = TrainConfig(model="minilm-l6", method="trainer", dataset="rt-reviews", max_steps=20,
                         lr=5e-5, train_size=320, eval_size=64, test_size=128, max_length=64,
                         logging_steps=5)
    run_id = engine.train(config, db)
    run = queries.get_run(db, run_id)

    assert run["status"] == "completed", run["error"]
    metrics = queries.run_metrics(db, run_id)
    assert [m["step"] for m in metrics if m["loss"] is not None] == [5, 10, 15, 20]
    assert all(m["learning_rate"] > 0 for m in metrics if m["loss"] is not None)
    [evaluation] = queries.run_evaluations(db, run_id)
    assert evaluation["n"] == 128 and evaluation["labels"] == '["rotten", "fresh"]'
    assert 0.0 <= run["test_accuracy"] <= 1.0
    assert len(queries.run_layer_changes(db, run_id)) == 9  # embeddings, 6 blocks, pooler, head
