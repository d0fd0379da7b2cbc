"""How often the claim language check refuses English, and how often it catches other languages.

English: every claim (and, separately, every sentence or post) of the shared labelled data,
run through ``validate_claim`` exactly as `check` and `score` run it; a refusal for language
is a false refusal. Other languages: the example sentences spaCy ships for each of its
languages (``spacy.lang.<code>.examples``), which a refusal for language catches. The old
stop-word heuristic is measured on the same texts for comparison.

    .venv/bin/python bench/bench_language.py [--data ../shared/datasets] [--out bench/results/language.json]
"""
from __future__ import annotations

import argparse
import csv
import gzip
import importlib
import json
import os
import resource
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.verdict.validation import URL, WORD, InvalidClaimError, validate_claim  # noqa: E402


def _tsv(path: Path, column: str | int, header: bool = True) -> list[str]:
    csv.field_size_limit(1 << 24)
    with open(path, encoding="utf-8-sig", newline="") as handle:
        if header:
            return [row[column] for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]
        return [row[column] for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE) if len(row) > column]


def _jsonl(path: Path, field: str) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line)[field] for line in handle if line.strip()]


def english_claims(data: Path) -> dict[str, list[str]]:
    """Claims as fact-checkers or dataset authors wrote them, per data set."""
    covid = data / "covid-fact" / "rte"
    scifact = data / "scifact-rationale-pairs"
    task2 = data / "checkthat2020-task2-claim-retrieval"
    return {
        "averitec": [c["claim"] for c in json.loads((data / "averitec" / "train.json").read_text())],
        "fever-dev": _jsonl(data / "fever-dev-pairs" / "dev_pairs.derived.jsonl", "claim"),
        "fever-symmetric": _jsonl(data / "fever-symmetric" / "fever_symmetric_dev.jsonl", "claim"),
        "covid-fact": _tsv(covid / "train.tsv", "Sentence2") + _tsv(covid / "dev.tsv", "Sentence2"),
        "healthver": [row["claim"] for row in csv.DictReader(open(data / "healthver" / "healthver_dev.csv",
                                                                  encoding="utf-8", newline=""))],
        "scifact": _tsv(scifact / "train.tsv", "sentence2") + _tsv(scifact / "dev.tsv", "sentence2"),
        "liar-plus": _tsv(data / "liar-plus" / "val2.tsv", 3, header=False)
                     + _tsv(data / "liar-plus" / "test2.tsv", 3, header=False),
        "checkthat2020-verified-claims": _tsv(task2 / "verified_claims.docs.tsv", "vclaim"),
    }


def english_sentences_and_posts(data: Path) -> dict[str, list[str]]:
    """Debate sentences and tweets: what `score` splits into candidate claims."""
    debates = sorted((data / "checkthat2020-task5-debates" / "train").glob("*.tsv"))
    ct22 = data / "checkthat2022-task1-tweets"
    ct20 = data / "checkthat2020-task1-tweets"
    task2 = data / "checkthat2020-task2-claim-retrieval"
    tweets_en: list[str] = []
    with gzip.open(ct22 / "CT22_english_tweet_objects.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            tweet = json.loads(line)
            if tweet.get("lang") == "en":  # the file holds a few tweets Twitter tagged otherwise
                tweets_en.append(tweet.get("full_text") or tweet.get("text") or "")
    return {
        "claimbuster-sentences": [r["text"] for r in json.loads((data / "claimbuster-2class" / "train.json").read_text())],
        "checkthat2020-debate-sentences": [text for path in debates for text in _tsv(path, 2, header=False)],
        "checkthat2022-tweets-1A-1B": [text for name in sorted(ct22.glob("CT22_english_1*.tsv"))
                                       for text in _tsv(name, "tweet_text")],
        "checkthat2022-tweet-objects-lang-en": tweets_en,
        "checkthat2020-task1-tweets": _tsv(ct20 / "training_v2.tsv", "tweet_text") + _tsv(ct20 / "dev_v2.tsv", "tweet_text"),
        "checkthat2020-task2-tweets": _tsv(task2 / "train" / "tweets.queries.tsv", "tweet_content")
                                      + _tsv(task2 / "dev" / "tweets.queries.tsv", "tweet_content"),
    }


def non_english_sentences() -> dict[str, list[str]]:
    import spacy.lang

    out: dict[str, list[str]] = {}
    for code in sorted(os.listdir(Path(spacy.lang.__file__).parent)):
        if code in ("en", "xx") or not (Path(spacy.lang.__file__).parent / code / "examples.py").is_file():
            continue
        sentences = getattr(importlib.import_module(f"spacy.lang.{code}.examples"), "sentences", [])
        if sentences:
            out[code] = [s for s in sentences if isinstance(s, str) and s.strip()]
    return out


def refused_for_language(text: str) -> bool | None:
    """True when validate_claim refuses the text for its language, False when it accepts it, None
    when it refuses it for another reason (empty, too long, no words)."""
    try:
        validate_claim(text)
    except InvalidClaimError as exc:
        return True if "another language" in str(exc) else None
    return False


def old_heuristic_refuses(text: str) -> bool | None:
    """The stop-word and script heuristic validate_claim used before the language identifier."""
    from spacy.lang.en.stop_words import STOP_WORDS

    text = " ".join(text.split())
    if not text or len(text) > 1000:
        return None
    words = WORD.findall(URL.sub(" ", text))
    if not words:
        return None
    latin = sum(ch.isascii() for w in words for ch in w) / max(1, sum(len(w) for w in words))
    hinted = sum(w.lower() in STOP_WORDS for w in words)
    return latin < 0.6 or (len(words) >= 8 and hinted == 0)


def measure(groups: dict[str, list[str]], judge) -> dict:
    """Refusals per set and over all, and over each half: the even-numbered texts of each set
    (where the rule's second pass was designed) and the odd-numbered ones (held out)."""
    per_group, examples = {}, {}
    halves = {"even": Counter(), "odd": Counter()}
    for name, texts in groups.items():
        counts = Counter()
        for number, text in enumerate(texts):
            verdict = judge(text)
            kind = "other_refusal" if verdict is None else ("refused" if verdict else "accepted")
            counts[kind] += 1
            halves["odd" if number % 2 else "even"][kind] += 1
            if verdict and len(examples.setdefault(name, [])) < 5:
                examples[name].append(text[:200])
        judged = counts["refused"] + counts["accepted"]
        per_group[name] = {"texts": len(texts), "judged": judged, "refused": counts["refused"],
                           "refused_rate": round(counts["refused"] / judged, 5) if judged else None,
                           "refused_for_other_reasons": counts["other_refusal"]}
    refused = sum(g["refused"] for g in per_group.values())
    judged = sum(g["judged"] for g in per_group.values())

    def rate(counts: Counter) -> dict:
        n = counts["refused"] + counts["accepted"]
        return {"judged": n, "refused": counts["refused"], "refused_rate": round(counts["refused"] / n, 5) if n else None}

    return {"judged": judged, "refused": refused, "refused_rate": round(refused / judged, 5) if judged else None,
            "even_half_design": rate(halves["even"]), "odd_half_held_out": rate(halves["odd"]),
            "per_set": per_group, "refused_examples": examples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "language.json")
    args = parser.parse_args()
    from pipeline.corpus import language as language

    claims, sentences, foreign = english_claims(args.data), english_sentences_and_posts(args.data), non_english_sentences()
    rss_before = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    started = time.perf_counter()
    refused_for_language("Warm-up: the identifier's models load on first use.")
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = {
        "what": "validate_claim's language refusals: false refusals of English, detections of other languages",
        "rule": {"identifier": "lingua-language-detector 2.1.1: low-accuracy mode over all languages proposes, "
                               "high-accuracy mode over the Latin-script languages confirms; a text mostly in "
                               "another script is refused outright",
                 "refuse_confidence": language.REFUSE_CONFIDENCE, "min_words": language.MIN_WORDS,
                 "min_latin_share": language.MIN_LATIN_SHARE},
        "english_claims": measure(claims, refused_for_language),
        "english_sentences_and_posts": measure(sentences, refused_for_language),
        "non_english_spacy_examples": measure(foreign, refused_for_language),
    }
    n_texts = sum(len(v) for groups in (claims, sentences, foreign) for v in groups.values())
    seconds = time.perf_counter() - started
    second_pass_loaded = language._second_pass.cache_info().currsize > 0
    result["old_heuristic"] = {
        "english_claims": {k: v for k, v in measure(claims, old_heuristic_refuses).items() if k != "refused_examples"},
        "english_sentences_and_posts": {k: v for k, v in measure(sentences, old_heuristic_refuses).items()
                                        if k != "refused_examples"},
        "non_english_spacy_examples": {k: v for k, v in measure(foreign, old_heuristic_refuses).items()
                                       if k != "refused_examples"},
    }
    result["speed"] = {"first_pass_load_seconds": round(load_seconds, 2), "texts": n_texts,
                       "ms_per_text": round(1000 * seconds / n_texts, 3), "second_pass_loaded": second_pass_loaded,
                       "peak_rss_mb_before_identifier": rss_before,
                       "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    summary = {k: {"all": (v["refused"], v["judged"], v["refused_rate"]), "held_out_half": v["odd_half_held_out"]}
               for k, v in result.items() if isinstance(v, dict) and "refused" in v}
    print(json.dumps({"refused, judged, rate": summary, "speed": result["speed"]}, indent=1))


if __name__ == "__main__":
    main()
