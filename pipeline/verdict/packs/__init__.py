"""Opt-in rule packs: topic knowledge kept out of the default path.

The default checker knows English (``pipeline.lang.en``) and reads everything else from the
corpus. Rules that know one topic (the size of a group, one policy's threshold, the other names
of one country) live in a rule pack, registered by name in ``RULE_PACKS`` (a ``catalogue``
registry, as spaCy registers its factories) and turned on by configuration only:
``Checker(rule_packs=("nato",))``, ``claimsift check --rule-pack nato``. None is on by default.

A registered pack is a factory ``(view, store_dir) -> RulePack``: it reads what it needs from
the corpus once, when the checker loads, and answers five questions while claims are checked.
Other packages can register packs through the ``claimsift_rule_packs`` entry point group.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Protocol

import catalogue

from pipeline.core.errors import UserError

if TYPE_CHECKING:
    from pipeline.core.types import Evidence
    from pipeline.retrieval.retrieve import CorpusView, RetrievalConfig
    from pipeline.verdict.rules import VerdictRules

RULE_PACKS = catalogue.create("claimsift", "rule_packs", entry_points=True)
# The packs that ship with claimsift; importing a module registers its packs.
BUILTIN_PACK_MODULES = ("pipeline.verdict.packs.nato",)


class RulePack(Protocol):
    """What the checker asks of a pack bound to one corpus."""

    name: str

    def aliases(self, name: str) -> tuple[str, ...]:
        """Other names (lower case) of a claim's subject ``name`` (lower case)."""
        ...

    def statements_about(self, entity: str, claim: str) -> dict[int, str]:
        """Sentence id -> that sentence read as a statement about ``entity`` (an entity key the
        claim names), for sentences that speak of it without naming it."""
        ...

    def stance(self, claim: str, passage: "Evidence", probs: dict[str, float],
               subject: str | None) -> dict[str, float]:
        """The stance probabilities after the pack's rules (``probs`` where none applies)."""
        ...

    def voting_rules(self, rules: "VerdictRules") -> "VerdictRules":
        """The voting rules with the pack's settings (``rules`` where it has none)."""
        ...

    def retrieval_config(self, config: "RetrievalConfig") -> "RetrievalConfig":
        """The retrieval settings with the pack's (``config`` where it has none)."""
        ...


RulePackFactory = Callable[["CorpusView", Path], RulePack]
# The help of every command's ``--rule-pack`` option.
RULE_PACK_HELP = ("Turn on an opt-in rule pack by name (repeatable; none by default): topic rules kept out of "
                  "the default path, e.g. `nato` (see pipeline/verdict/packs).")


class UnknownRulePackError(UserError):
    pass


def _register_builtin() -> None:
    for module in BUILTIN_PACK_MODULES:
        importlib.import_module(module)


def registered_rule_packs() -> list[str]:
    """The names of every pack that can be turned on, sorted."""
    _register_builtin()
    return sorted(RULE_PACKS.get_all())


def rule_pack_names(names: Iterable[str] | None) -> tuple[str, ...]:
    """``names`` checked against the registry, duplicates dropped, order kept (packs apply in
    this order); an unknown name is an error that lists the known ones."""
    chosen = tuple(dict.fromkeys(n.strip().lower() for n in (names or ())))
    if not chosen:
        return ()
    known = registered_rule_packs()
    for name in chosen:
        if name not in known:
            raise UnknownRulePackError(f"no rule pack named {name!r}; registered packs: {', '.join(known) or 'none'}")
    return chosen


def load_rule_packs(names: Iterable[str], view: "CorpusView", store_dir: Path) -> tuple[RulePack, ...]:
    """The named packs, each bound to the corpus."""
    return tuple(RULE_PACKS.get(name)(view, Path(store_dir)) for name in rule_pack_names(names))
