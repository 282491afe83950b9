"""Shared fixtures: a fresh database and home per test, tiny in-process models, small data."""

import os
import random

import pandas as pd
import pytest

# Tests never reach the hub: an unknown id must fail at once, not after retries.
os.environ["HF_HUB_OFFLINE"] = "1"


@pytest.fixture(scope="session", autouse=True)
def shared_model_cache(tmp_path_factory):
    """Every test's home converts a bundled GGUF model into one cache (about 20 s each
    otherwise); the workers, servers and Ray heads the tests start inherit it. A test of the
    conversion itself clears the variable for its own."""
    from core.paths import MODEL_CACHE

    os.environ[MODEL_CACHE] = str(tmp_path_factory.mktemp("model-cache"))
    yield
    os.environ.pop(MODEL_CACHE, None)

POSITIVE = ["great", "superb", "moving", "brilliant", "fun", "charming"]
NEGATIVE = ["awful", "dull", "boring", "clumsy", "tedious", "bland"]
NEUTRAL = ["film", "plot", "actor", "scene", "story", "director", "the", "a", "was", "and"]
LABEL_WORDS = ["very", "good", "bad", "text", "label", "classify", "each", "as", "one", "of", "or",
               "pos", "neg", "answer"]


def assert_nothing_written() -> None:
    """Bad input leaves no run row and no run folder behind."""
    from core import paths
    from storage import queries
    from storage.db import connect

    if paths.db_path().exists():
        assert queries.list_runs(connect(paths.db_path())) == []
    assert not (paths.home() / "runs").exists()


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "home"
    monkeypatch.setenv("WORKBENCH_HOME", str(path))
    yield path
    stop_every_job(path)


@pytest.fixture
def hold(db):
    """`hold(key)`: take a job's lock for the rest of the test, as its live worker would
    (a run left `running` with its lock free reads `interrupted`)."""
    from storage import locks

    held = []
    yield lambda key: held.append(locks.take(locks.folder_of(db), key))
    for lock in held:
        lock.release()


def stop_every_job(home) -> None:
    """A run's worker outlives the test that launched it: stop whatever still works or waits
    on the test's home, so that no worker goes on training on the cores the next test uses."""
    from core.jobs import JobManager

    from core.errors import WorkbenchError

    database = home / "workbench.db"
    if not database.exists():
        return
    try:
        manager = JobManager(database, launch=False)
        left = manager.working() + manager.queued()
    except WorkbenchError:  # no database, or one a test damaged on purpose: no job either
        return
    for key in left:
        manager.stop(key)
    if left:
        manager.wait(120)


@pytest.fixture
def db(home):
    from core import paths
    from storage.db import connect

    return connect(paths.db_path())


def review(label: str, rng: random.Random) -> str:
    words = rng.sample(NEUTRAL, 4) + rng.sample(POSITIVE if label == "pos" else NEGATIVE, 2)
    rng.shuffle(words)
    return " ".join(words)


def sentiment_frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """Reviews whose label is given away by their words: a tiny model learns them fast."""
    rng = random.Random(seed)
    labels = ["pos" if i % 2 else "neg" for i in range(n)]
    return pd.DataFrame({"review": [review(label, rng) for label in labels], "sentiment": labels})


@pytest.fixture
def sentiment_csv(tmp_path):
    path = tmp_path / "reviews.csv"
    sentiment_frame().to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory):
    """A 2-layer BERT with a word-level vocabulary, saved as a local model folder."""
    from transformers import BertConfig, BertModel, BertTokenizer

    path = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *POSITIVE, *NEGATIVE, *NEUTRAL]
    tokenizer = BertTokenizer(vocab={word: i for i, word in enumerate(vocab)})
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture
def tiny_config(tiny_encoder, sentiment_csv):
    """Settings under which the tiny model learns the synthetic reviews in seconds."""
    from core.config import TrainConfig

    return TrainConfig(model=tiny_encoder, dataset=str(sentiment_csv), text_column="review",
                       label_column="sentiment", train_size=120, eval_size=40, test_size=40,
                       epochs=3, lr=5e-3, batch_size=8, warmup_steps=0, logging_steps=5,
                       max_length=16, seed=0)


@pytest.fixture(scope="session")
def tiny_causal(tmp_path_factory):
    """A 2-layer Llama over a word-level vocabulary, saved as a local model folder."""
    import torch
    from transformers import BertTokenizer, LlamaConfig, LlamaForCausalLM

    path = tmp_path_factory.mktemp("tiny-llama")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ":", ".", ",", *POSITIVE, *NEGATIVE,
             *NEUTRAL, *LABEL_WORDS]
    # [CLS] and [SEP] stand in for the beginning- and end-of-text tokens a causal model has.
    tokenizer = BertTokenizer(vocab={word: i for i, word in enumerate(vocab)}, bos_token="[CLS]",
                              eos_token="[SEP]")
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, pad_token_id=0)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_classifier(tiny_encoder, tmp_path_factory):
    """The tiny BERT with a (random) sentiment head: a checkpoint that already is a classifier."""
    from transformers import AutoTokenizer, BertForSequenceClassification

    path = tmp_path_factory.mktemp("tiny-classifier")
    model = BertForSequenceClassification.from_pretrained(
        tiny_encoder, num_labels=2, id2label={0: "neg", 1: "pos"}, label2id={"neg": 0, "pos": 1})
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny_encoder).save_pretrained(path)
    return str(path)


@pytest.fixture
def causal_config(tiny_causal, sentiment_csv):
    """Settings under which the tiny Llama learns to answer with the label in seconds."""
    from core.config import TrainConfig

    return TrainConfig(model=tiny_causal, method="sft", adapter="none", dataset=str(sentiment_csv),
                       text_column="review", label_column="sentiment", train_size=120,
                       eval_size=40, test_size=40, epochs=3, lr=5e-3, batch_size=8,
                       warmup_steps=0, logging_steps=5, max_length=64, seed=0)


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` need CUDA: skipped, saying so, on a machine without it (torch is
    imported only when such a test was collected, so other runs do not pay for it)."""
    gpu = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu:
        return
    import torch

    if not torch.cuda.is_available():
        for item in gpu:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))
