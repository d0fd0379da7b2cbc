"""Rule packs (``pipeline.verdict.packs``): chosen by name through the registry and the CLI, off by
default, recorded in batch checkpoints and shipped to workers; and the default path knows no
topic (the ``nato`` pack's own rules: test_pack_nato.py)."""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.core.errors import UserError
from pipeline.verdict.packs import (
    RULE_PACKS,
    UnknownRulePackError,
    load_rule_packs,
    registered_rule_packs,
    rule_pack_names,
)
from shipping import as_shipped

ROOT = Path(__file__).resolve().parent.parent
STOLTENBERG = "Jens Stoltenberg led NATO for only two years."


def test_packs_are_chosen_by_name_through_the_registry():
    assert "nato" in registered_rule_packs()
    from pipeline.verdict.packs.nato import nato_pack

    assert RULE_PACKS.get("nato") is nato_pack
    assert rule_pack_names(None) == () and rule_pack_names(["NATO", " nato"]) == ("nato",)
    with pytest.raises(UnknownRulePackError, match="no rule pack named 'vaccines'; registered packs: .*nato"):
        rule_pack_names(["vaccines"])


@pytest.fixture()
def recording_pack():
    """A pack registered for one test, that records what it was bound to."""
    import catalogue

    bound = []

    @RULE_PACKS.register("test-recording")
    def make(view, store_dir):
        bound.append((view, store_dir))
        return "a pack"

    yield bound
    catalogue.REGISTRY.pop(("claimsift", "rule_packs", "test-recording"), None)


def test_a_registered_pack_is_loaded_by_its_name_and_bound_to_the_corpus(recording_pack, tmp_path):
    assert load_rule_packs(["test-recording"], "the view", tmp_path) == ("a pack",)
    assert recording_pack == [("the view", tmp_path)]
    assert load_rule_packs([], "the view", tmp_path) == () and len(recording_pack) == 1


def test_the_checker_takes_pack_names_and_ships_them_to_workers(tmp_path):
    from pipeline.scoring.models import ModelScorer
    from pipeline.verdict.checker import Checker

    assert Checker(tmp_path).rule_packs == ()  # off by default
    checker = as_shipped(Checker(tmp_path, rule_packs=["nato"]))
    assert checker.rule_packs == ("nato",)
    assert as_shipped(ModelScorer(tmp_path, rule_packs=("nato",))).rule_packs == ("nato",)
    with pytest.raises(UnknownRulePackError):
        Checker(tmp_path, rule_packs=["nato", "bogus"])


def test_a_checkpoint_records_the_packs_and_refuses_a_resume_with_others(tmp_path):
    from pipeline.scoring.checkpoint import Checkpoint
    from pipeline.scoring.models import ModelScorer

    out = tmp_path / "out.jsonl"
    with_pack = {"scorer": ModelScorer(tmp_path, rule_packs=("nato",)).fingerprint()}
    Checkpoint(out, ".jsonl").open(with_pack, resume=False)
    manifest = json.loads((tmp_path / "out.jsonl.parts" / "manifest.json").read_text())
    assert manifest["config"]["scorer"]["rule_packs"] == ["nato"]
    Checkpoint(out, ".jsonl").open(with_pack, resume=True)  # the same packs resume
    without = {"scorer": ModelScorer(tmp_path).fingerprint()}
    assert without["scorer"]["rule_packs"] == []
    with pytest.raises(UserError, match=r"differs from the checkpoint .*'rule_packs': \['nato'\].*'rule_packs': \[\]"):
        Checkpoint(out, ".jsonl").open(without, resume=True)


# ---- the default path knows no topic ---------------------------------------------------------
DEFAULT_PATH = ("pipeline/verdict/checker.py", "pipeline/retrieval/retrieve.py", "pipeline/verdict/aggregator.py", "pipeline/corpus/nlp.py",
                "pipeline/lang/en.py")
TOPIC_WORDS = re.compile(r"\b(nato|gdp|washington|alliance|allies|britain|america|rutte|stoltenberg|trump|putin|"
                         r"ukrain\w*|russia\w*|dutch|norwegian|hungarian|romanian|poland|spain)\b|\b2\s*(%|per ?cent)",
                         re.IGNORECASE)


def code_strings(path: Path):
    """The string constants of a module that are code or word lists, not docstrings."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


@pytest.mark.parametrize("module", DEFAULT_PATH)
def test_the_default_paths_code_and_word_lists_name_no_topic(module):
    found = [(line, text) for line, text in code_strings(ROOT / module) if TOPIC_WORDS.search(text)]
    assert found == []
    # The scan finds what it looks for: the pack's code is full of it.
    assert any(TOPIC_WORDS.search(text) for _, text in code_strings(ROOT / "pipeline/verdict/packs/nato/__init__.py"))


@pytest.mark.slow
def test_checking_without_packs_never_imports_pack_code(seed_store):
    script = ("import sys; from pipeline.verdict.checker import Checker; "
              f"v = Checker({str(seed_store)!r}).check('There is no evidence that vitamin C cures COVID-19.'); "
              "print(v.verdict, any(m.startswith('pipeline.verdict.packs.') for m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["NOT_ENOUGH_INFO", "False"]


@pytest.mark.slow
def test_the_default_path_reads_no_group_size_into_a_count(seed_checker):
    """"All 27 EU members" and "all EU members" say the same; the nato pack, which reads counts
    against the corpus's group of 32, would compare 27 with 32. The default path leaves the
    stance model's reading alone (only the general corrections apply)."""
    from pipeline.core.types import STANCE_LABELS, Evidence
    from pipeline.verdict.rules import adjusted_stance

    assert seed_checker.bound_rule_packs == () and not hasattr(seed_checker.corpus_view, "group_size")
    claim = "All 27 EU members meet the 2% defence spending target."
    passage = Evidence(doc_id="x", sentence="All EU members have met the 2% defence spending target.", start=0, end=1,
                       score=1.0)
    (judged,) = seed_checker.judge([claim], [[passage]], voting=[[0]])[0]
    row = seed_checker.stance_reader().predict_proba([claim], [passage.sentence])[0]
    expected = adjusted_stance(claim, passage, dict(zip(STANCE_LABELS, map(float, row))))
    assert judged.stance_probs == pytest.approx(expected, abs=5e-3)
    # What the pack's count rule would have made of it: 27 members against the 32 of the corpus.
    from pipeline.verdict.packs.nato.quantities import count_stance

    decided = count_stance(claim, passage.sentence, expected, group_size=32)
    assert max(decided, key=decided.get) == "REFUTES" and decided != pytest.approx(expected)


@pytest.mark.slow
def test_without_the_pack_no_sentence_is_read_as_about_a_member(seed_checker):
    verdict = seed_checker.check("Spain meets NATO's 2% defence spending target.")
    assert not any(e.read_as for e in verdict.evidence)


@pytest.mark.parametrize("sentence, denies", [
    ("We rate this post False.", True),
    ("The claim is false.", True),
    ("The test has a false positive rate of 2 in 1,000.", False),
    ("A false-negative result does not rule out infection.", False),
    ("Health officials called it a false alarm.", False),
])
def test_false_is_a_denial_only_where_it_judges_something(sentence, denies):
    from pipeline.lang.en import DENIAL_CUE

    assert bool(DENIAL_CUE.search(sentence)) is denies


def test_nationality_titles_come_from_the_documents_entities():
    from pipeline.corpus.nlp import build_nlp
    from pipeline.corpus.speakers import People
    from pipeline.lang.en import TITLE_WORDS

    assert not {"dutch", "norwegian", "nato", "us"} & TITLE_WORDS  # no hand list of nations
    nlp = build_nlp(quotes=False)
    doc = nlp("Kenyan President William Ruto said the plan was sound.")
    people = People(doc, lambda offset: False)
    assert "kenyan" in people.titles and people.full("Kenyan President William Ruto") == "William Ruto"
    # A word the document also uses in a person's name is no title.
    doc = nlp("Jordan Peterson spoke in Amman, Jordan.")
    assert "jordan" not in People(doc, lambda offset: False).titles


@pytest.mark.slow
def test_the_cli_turns_a_pack_on_by_name(seed_store, run_cli):
    bare = run_cli("check", STOLTENBERG, "--store", str(seed_store), "--json")
    with_pack = run_cli("check", STOLTENBERG, "--store", str(seed_store), "--json", "--rule-pack", "nato")
    assert bare.returncode == 0 and with_pack.returncode == 0, (bare.stderr, with_pack.stderr)
    # The tenure rule ("his ten-year tenure") is the pack's: it moves a passage's stance.
    bare_probs = {e["sentence"]: e["stance_probs"] for e in json.loads(bare.stdout)["evidence"]}
    pack_probs = {e["sentence"]: e["stance_probs"] for e in json.loads(with_pack.stdout)["evidence"]}
    assert any(bare_probs.get(s) != p for s, p in pack_probs.items())
    assert json.loads(with_pack.stdout)["verdict"] == "REFUTED"


@pytest.mark.slow
def test_the_cli_names_an_unknown_pack(tmp_path, run_cli):
    for command in (["check", STOLTENBERG, "--store", str(tmp_path)], ["evaluate", "claims", "--store", str(tmp_path)],
                    ["score", str(tmp_path / "posts.jsonl"), "--out", str(tmp_path / "out.jsonl")]):
        result = run_cli(*command, "--rule-pack", "vaccines")
        assert result.returncode == 2, (command, result.stderr)
        assert "no rule pack named 'vaccines'" in result.stderr and "Traceback" not in result.stderr
