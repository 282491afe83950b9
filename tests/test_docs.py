"""The docs keep up with the code: every command, flag and setting is documented, the
generated reference is current, links between pages resolve, and the README stays short."""

import argparse
import dataclasses
import re
from pathlib import Path

import pytest

from tools import gen_cli_docs as docs

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([*(ROOT / "docs").rglob("*.md"), ROOT / "README.md", ROOT / "CONTRIBUTING.md",
                ROOT / "CHANGELOG.md"])


@pytest.fixture(scope="module")
def parser() -> argparse.ArgumentParser:
    from core.cli import build_parser

    return build_parser()


@pytest.fixture(scope="module")
def configs():
    from core.config import TrainConfig
    from core.evaluate import EvalConfig

    return TrainConfig, EvalConfig


def check(parser, configs) -> list[str]:
    return docs.undocumented(parser, configs, docs.docs_text(),
                             docs.CLI_GUIDE.read_text(encoding="utf-8"))


def test_the_reference_is_up_to_date():
    # If this fails: .venv/bin/python tools/gen_cli_docs.py, and commit docs/reference.md.
    assert docs.REFERENCE.read_text(encoding="utf-8") == docs.render(), \
        "docs/reference.md is out of date: run .venv/bin/python tools/gen_cli_docs.py"


def test_every_command_flag_and_setting_is_documented(parser, configs):
    assert check(parser, configs) == []


def subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    return docs.subcommands(parser)[name][1]


def test_a_flag_added_without_docs_is_caught(configs):
    from core.cli import build_parser

    parser = build_parser()  # a fresh one: the module's fixture stays as the code has it
    subparser(parser, "train").add_argument("--warp-factor", type=int, help="how fast")
    subparser(parser, "eval").add_argument("--mystery")  # no help text either
    assert check(parser, configs) == [
        "train --warp-factor is not in docs/",
        "eval --mystery has no help text",
        "eval --mystery is not in docs/",
    ]
    # Regenerating the reference would document the flag, so the committed one is stale.
    assert "`--warp-factor`" in docs.render(parser)
    assert docs.render(parser) != docs.REFERENCE.read_text(encoding="utf-8")


def test_a_command_or_a_setting_added_without_docs_is_caught(configs):
    from core.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands.add_parser("teleport", help="move a run elsewhere")
    train_config, eval_config = configs
    extended = dataclasses.make_dataclass(
        "TrainConfig", [("flux_capacity", int, dataclasses.field(
            default=1, metadata={"help": "How much flux."}))], bases=(train_config,))
    assert check(parser, [extended, eval_config]) == [
        "command 'teleport' is not in docs/cli.md",
        "TrainConfig.flux_capacity is not in docs/",
    ]


def test_a_word_counts_as_mentioned_only_whole():
    assert docs.mentioned("--seed", "use `--seed 3`")
    assert not docs.mentioned("--seed", "use `--seeds 3`")
    assert not docs.mentioned("--no-packing", "use --no-packing-at-all")


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {anchor(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def links(page: Path) -> list[tuple[str, str]]:
    """(target, anchor) of each relative Markdown link outside code blocks."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    found = re.findall(r"\]\(([^)\s]+)\)", text)
    return [tuple((t.split("#", 1) + [""])[:2]) for t in found
            if not re.match(r"[a-z]+:", t)]


def test_links_between_pages_resolve():
    broken = []
    for page in PAGES:
        for target, fragment in links(page):
            path = (page.parent / target).resolve() if target else page
            if not path.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} does not exist")
            elif fragment and path.suffix == ".md" and fragment not in anchors(path):
                broken.append(f"{page.relative_to(ROOT)}: no heading #{fragment} in {target}")
    assert broken == []


def test_the_readme_is_a_front_door():
    readme = (ROOT / "README.md").read_bytes()
    assert len(readme) <= 8 * 1024, "keep the README under 8 KB: move detail into docs/"
    for command in ("make run", "make test"):
        assert command.encode() in readme
    assert (ROOT / "docs" / "images" / "home.png").stat().st_size < 100_000
