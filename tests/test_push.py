"""Push to the hub, through a local stand-in for the hub API (never the network): the run's
model folder and a model card made from the run; offline, a bad id or a refusal is one line."""

import json
from pathlib import Path

import pytest

from core import paths
from core.errors import WorkbenchError
from core.push import push_run
from storage import queries


class StandInHub:
    """Records what HfApi would be asked, and keeps the files as a repository would."""

    def __init__(self, root: Path, refuse: int | None = None):
        self.root, self.refuse, self.created = root, refuse, []

    def create_repo(self, repo_id, private=False, exist_ok=False):
        if self.refuse:
            error = RuntimeError("Unauthorized")
            error.response = type("Response", (), {"status_code": self.refuse})()
            raise error
        self.created.append((repo_id, private))
        return f"https://hub.local/{repo_id}"

    def upload_folder(self, folder_path, repo_id, ignore_patterns=(), commit_message=""):
        for path in Path(folder_path).iterdir():
            if path.name not in ignore_patterns:
                (self.root / repo_id).mkdir(parents=True, exist_ok=True)
                (self.root / repo_id / path.name).write_bytes(path.read_bytes())

    def upload_file(self, path_or_fileobj, path_in_repo, repo_id, commit_message=""):
        (self.root / repo_id / path_in_repo).write_bytes(path_or_fileobj)


@pytest.fixture
def lora_run(db, tiny_causal):
    from peft import LoraConfig, get_peft_model

    from core.models import load_causal, load_tokenizer, resolve_model, save_model

    source = resolve_model(tiny_causal)
    model = get_peft_model(load_causal(source), LoraConfig(r=2, target_modules=["q_proj"]))
    save_model(model, load_tokenizer(source), paths.run_dir("run-1") / "model", source, "lora",
               None)
    config = {"model": "smollm2-135m", "method": "sft", "adapter": "lora",
              "dataset": "rt-reviews", "lr": 2e-4, "seed": 42}
    db["runs"].insert({"id": "run-1", "name": "my <b>sft</b> run", "model": "smollm2-135m",
                       "method": "sft", "adapter": "lora", "dataset": "rt-reviews",
                       "status": "completed", "config": json.dumps(config),
                       "created_at": "2026-01-01"})
    for mode, accuracy in (("fine-tuned", 0.66), ("zero-shot", 0.47)):
        queries.add_evaluation(db, {"run_id": "run-1", "mode": mode, "n": 200,
                                    "accuracy": accuracy, "labels": ["rotten", "fresh"],
                                    "per_class": {"rotten": {"accuracy": 0.6},
                                                  "fresh": {"accuracy": 0.7}},
                                    "template": "sft prompt (score)"}, [])
    return "run-1"


def test_a_run_is_pushed_with_its_adapters_and_a_card_made_from_it(db, lora_run, tmp_path):
    hub = StandInHub(tmp_path / "hub")
    url = push_run(db, lora_run, "me/sentiment-lora", private=True, api=hub)
    assert url == "https://hub.local/me/sentiment-lora"
    assert hub.created == [("me/sentiment-lora", True)]
    files = {p.name for p in (tmp_path / "hub" / "me" / "sentiment-lora").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md"} <= files
    assert "workbench.json" not in files  # the workbench's own note stays home
    card = (tmp_path / "hub" / "me" / "sentiment-lora" / "README.md").read_text()
    assert card.startswith('---\nlibrary_name: "peft"\nbase_model: '
                           '"HuggingFaceTB/SmolLM2-135M-Instruct"\n')
    assert '"finetune-workbench", "sft", "lora"' in card
    assert "# my &lt;b&gt;sft&lt;/b&gt; run" in card  # shown as typed, not as HTML
    assert "on `rt-reviews` by `sft` with lora adapters" in card
    assert "| Tuned | 200 | 0.660 | 0.600 | 0.700 |" in card
    assert "| Original | 200 | 0.470 | 0.600 | 0.700 |" in card
    assert "| lr | 0.0002 |" in card and "```yaml\nmodel: smollm2-135m\n" in card


def test_offline_a_bad_id_a_refusal_or_an_unfinished_run_is_one_line(db, lora_run, tmp_path,
                                                                        capsys):
    from core.cli import main

    assert main(["push", lora_run, "me/model"]) == 2  # HF_HUB_OFFLINE is set for the tests
    assert capsys.readouterr().err.strip() == ("error: cannot push to the Hugging Face hub: "
                                               "HF_HUB_OFFLINE is set, so this machine is offline")
    for repo in ("no-namespace", "a/b/c", "me/bad name", "/x"):
        with pytest.raises(WorkbenchError, match="is not a hub repository id"):
            push_run(db, lora_run, repo, api=StandInHub(tmp_path))
    with pytest.raises(WorkbenchError, match="the hub refused to write me/x \\(HTTP 401\\): log "
                                             "in with `hf auth login` or set HF_TOKEN"):
        push_run(db, lora_run, "me/x", api=StandInHub(tmp_path, refuse=401))
    queries.finish_run(db, lora_run, "stopped")
    with pytest.raises(WorkbenchError, match="run run-1 is not a completed run with a saved "
                                             "model"):
        push_run(db, lora_run, "me/x", api=StandInHub(tmp_path))
    assert not (tmp_path / "me").exists()


@pytest.mark.slow
def test_the_run_page_pushes_and_says_why_it_cannot_in_one_line(db, lora_run):
    from test_pages import app

    page = app("runs.py", run=lora_run).run()
    assert not page.exception
    box = next(t for t in page.text_input if t.label == "Repository")
    box.input("me/sentiment")
    next(b for b in page.button if b.label == "Push").click().run()
    assert not page.exception
    [error] = page.error
    shown = error.value.replace("\u2060", "").replace("\\", "")
    # Under the button (the popover closes on the rerun), saying what failed.
    assert shown == ("Push to the hub: cannot push to the Hugging Face hub: HF_HUB_OFFLINE is "
                     "set, so this machine is offline")


@pytest.mark.parametrize("repo", ["me/..", "me/--x", "me/x.", "ме/модель", "me/a b", "/x", "a/b/c",
                                  "no-namespace"])
def test_repository_ids_are_checked_as_the_hub_checks_them(db, lora_run, tmp_path, repo):
    with pytest.raises(WorkbenchError, match="is not a hub repository id"):
        push_run(db, lora_run, repo, api=StandInHub(tmp_path))


def test_the_card_keeps_user_text_as_text(db, lora_run, tmp_path):
    config = json.loads(queries.get_run(db, lora_run)["config"])
    config["system_prompt"] = "Say | and ``` and\nnew lines"
    db["runs"].update(lora_run, {"config": json.dumps(config)})
    push_run(db, lora_run, "me/x", api=StandInHub(tmp_path / "hub"))
    card = (tmp_path / "hub" / "me" / "x" / "README.md").read_text()
    assert "| system_prompt | Say \\| and \\`\\`\\` and<br>new lines |" in card
    fence = "````"  # longer than the backticks inside
    assert f"{fence}yaml\n" in card and card.count(fence) == 2
