"""Validation of user-supplied labelled files: every problem reported with its rows, nothing
trains on a bad file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipeline.core.errors import InputError
from pipeline.training.data import (
    TrainingDataError,
    evaluation_keys,
    load_evaluation_data,
    load_training_data,
    validate,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
CHECKWORTHY = DATA / "retrain_checkworthy.jsonl"
STANCE = DATA / "retrain_stance.jsonl"


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def problems(report) -> dict[str, tuple[int, ...]]:
    return {p.kind: p.rows for p in report.problems}


def test_the_hand_made_files_are_valid():
    data = load_training_data(CHECKWORTHY, "checkworthy", datasets_dir=None)
    assert len(data) == 44 and data.label_counts == {0: 22, 1: 22}
    assert data.frame["row"].tolist() == list(range(1, 45))
    stance = load_training_data(STANCE, "stance", datasets_dir=None)
    assert stance.label_counts == {"SUPPORTS": 12, "REFUTES": 12, "NOT_ENOUGH_INFO": 12}
    pairs = stance.stance_pairs()
    assert pairs[0].source == "user:retrain_stance.jsonl" and pairs[0].group == "mark rutte is nato s secretary general"


def test_jsonl_csv_and_parquet_give_the_same_rows(tmp_path):
    frame = pd.DataFrame(rows_of(CHECKWORTHY))
    frame.to_csv(tmp_path / "labels.csv", index=False)
    frame.to_parquet(tmp_path / "labels.parquet")
    loaded = {name: load_training_data(tmp_path / name, "checkworthy", datasets_dir=None).frame
              for name in ("labels.csv", "labels.parquet")}
    expected = load_training_data(CHECKWORTHY, "checkworthy", datasets_dir=None).frame
    for frame in loaded.values():
        assert frame["text"].tolist() == expected["text"].tolist()
        assert frame["label"].tolist() == expected["label"].tolist()
    assert loaded["labels.csv"]["row"].tolist()[:2] == [2, 3]  # the header is line 1
    assert loaded["labels.parquet"]["row"].tolist()[:2] == [1, 2]


def test_a_folder_stands_for_its_files(tmp_path, write_jsonl):
    rows = rows_of(CHECKWORTHY)
    write_jsonl(tmp_path / "a.jsonl", rows[:22])
    pd.DataFrame(rows[22:]).to_csv(tmp_path / "b.csv", index=False)
    data = load_training_data(tmp_path, "checkworthy", datasets_dir=None)
    assert len(data) == 44 and sorted(set(Path(f).name for f in data.frame["file"])) == ["a.jsonl", "b.csv"]


def test_every_row_problem_is_reported_with_its_rows(tmp_path, write_jsonl):
    rows = rows_of(CHECKWORTHY)[:30]
    rows[2] = {"text": "   ", "label": 1}                        # row 3: empty text
    rows[4] = {"text": "The moon is made of cheese.", "label": "yes"}  # row 5: unknown label
    rows[6] = {"text": rows[0]["text"].upper(), "label": rows[0]["label"]}   # row 7: duplicate of row 1
    rows[8] = {"text": rows[1]["text"], "label": 1 - rows[1]["label"]}       # row 9: contradicts row 2
    rows[10] = {"label": 1}                                        # row 11: no text
    rows[12] = "{not json"                                         # row 13
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(TrainingDataError) as caught:
        load_training_data(path, "checkworthy", datasets_dir=None)
    found = problems(caught.value.report)
    assert found["empty text"] == (3, 11)
    assert found["unknown label"] == (5,)
    assert found["duplicate rows"] == (7,)
    assert found["contradictory duplicates (same text, different label)"] == (9,)
    assert found["not valid JSON (Expecting property name enclosed in double quotes at column 2)"] == (13,)
    message = str(caught.value)
    assert message.startswith(f"{path}, row 3: not trained on:")
    assert "unknown label on row 5 (expected 0, 1; found 'yes')" in message


def test_missing_columns_name_the_schema(tmp_path):
    path = tmp_path / "claims.csv"
    pd.DataFrame({"sentence": ["a", "b"], "label": [0, 1]}).to_csv(path, index=False)
    with pytest.raises(TrainingDataError, match=r"missing column text \(the checkworthy schema is text, label; "
                                                r"found label, sentence\)"):
        load_training_data(path, "checkworthy", datasets_dir=None)
    with pytest.raises(TrainingDataError, match="missing columns claim, evidence"):
        load_training_data(CHECKWORTHY, "stance", datasets_dir=None)


def test_labels_in_another_vocabulary_are_named(tmp_path, write_jsonl):
    rows = [{"claim": r["claim"], "evidence": r["evidence"], "label": {"SUPPORTS": "true", "REFUTES": "false",
                                                                        "NOT_ENOUGH_INFO": "half-true"}[r["label"]]}
            for r in rows_of(STANCE)]
    path = write_jsonl(tmp_path / "politifact.jsonl", rows)
    with pytest.raises(TrainingDataError) as caught:
        load_training_data(path, "stance", datasets_dir=None)
    problem = caught.value.report.problems[0]
    assert problem.kind == "unknown label" and problem.rows == tuple(range(1, 37))
    assert "every label is in another vocabulary" in problem.detail
    assert "expected SUPPORTS, REFUTES, NOT_ENOUGH_INFO" in problem.detail and "'half-true'" in problem.detail


def test_stance_label_aliases_are_accepted(tmp_path, write_jsonl):
    aliases = {"SUPPORTS": "entailment", "REFUTES": "Contradiction", "NOT_ENOUGH_INFO": "NEI"}
    rows = [{**r, "label": aliases[r["label"]]} for r in rows_of(STANCE)]
    data = load_training_data(write_jsonl(tmp_path / "nli.jsonl", rows), "stance", datasets_dir=None)
    assert data.label_counts == {"SUPPORTS": 12, "REFUTES": 12, "NOT_ENOUGH_INFO": 12}


def test_single_class_and_too_few_rows_are_refused(tmp_path, write_jsonl):
    positives = [r for r in rows_of(CHECKWORTHY) if r["label"] == 1]
    with pytest.raises(TrainingDataError, match="a single class.*every row is labelled 1"):
        load_training_data(write_jsonl(tmp_path / "one.jsonl", positives), "checkworthy", datasets_dir=None)
    with pytest.raises(TrainingDataError, match="too few rows.*5 valid rows; at least 20"):
        load_training_data(write_jsonl(tmp_path / "five.jsonl", rows_of(CHECKWORTHY)[:5]), "checkworthy",
                           datasets_dir=None)
    lopsided = positives + [r for r in rows_of(CHECKWORTHY) if r["label"] == 0][:2]
    with pytest.raises(TrainingDataError, match=r"too few rows of a class.*0 \(2\)"):
        load_training_data(write_jsonl(tmp_path / "lopsided.jsonl", lopsided), "checkworthy", datasets_dir=None)


def test_overlap_with_evaluation_data_is_leakage(tmp_path, write_jsonl):
    rows = rows_of(CHECKWORTHY)
    evaluation = write_jsonl(tmp_path / "eval.jsonl", [{"text": rows[3]["text"] + "  ", "label": rows[3]["label"]},
                                                      {"text": "Something else entirely.", "label": 0}])
    with pytest.raises(TrainingDataError) as caught:
        load_training_data(CHECKWORTHY, "checkworthy", datasets_dir=None, evaluation_files=[evaluation])
    problem = caught.value.report.problems[0]
    assert problem.kind == "overlap with evaluation data (leakage)" and problem.rows == (4,)
    assert "eval.jsonl" in problem.detail


def test_public_dev_and_test_tweets_count_as_evaluation_data(tmp_path, shared_datasets, write_jsonl):
    keys = evaluation_keys("checkworthy", shared_datasets)
    dev_tweet = next(text for text, origin in keys.items() if origin.startswith("ct22_1a_dev"))
    assert any("test" in origin for origin in keys.values())
    rows = rows_of(CHECKWORTHY) + [{"text": dev_tweet, "label": 1}]
    with pytest.raises(TrainingDataError, match=r"leakage.*row 45.*ct22_1a_dev"):
        load_training_data(write_jsonl(tmp_path / "leaky.jsonl", rows), "checkworthy", datasets_dir=shared_datasets)


def test_evaluation_files_need_no_class_balance(tmp_path, write_jsonl):
    rows = [r for r in rows_of(CHECKWORTHY) if r["label"] == 1][:12]
    data = load_evaluation_data(write_jsonl(tmp_path / "eval.jsonl", rows), "checkworthy")
    assert len(data) == 12
    with pytest.raises(TrainingDataError, match="cannot evaluate on it: .*missing column text"):
        load_evaluation_data(STANCE, "checkworthy")


def test_csv_rows_are_the_lines_a_spreadsheet_shows(tmp_path):
    path = tmp_path / "multi.csv"
    good = "".join(f'"Claim number {i} about the budget.",{i % 2}\n' for i in range(22))
    path.write_text('text,label\n"A text\nover two lines",1\n"",0\n' + good + '"Unknown label row",maybe\n')
    report, _ = validate(path, "checkworthy")
    assert problems(report) == {"empty text": (4,), "unknown label": (27,)}


def test_a_plain_tsv_with_quoted_tweets_is_read_row_by_row(tmp_path):
    # CSV quoting refused a plain TSV whose tweet starts with a quote ("'\t' expected after '\"'"), and the
    # blank line before a row made that row's number its blank line's
    rows = "".join(f"Claim number {i} about the budget.\t{i % 2}\n" for i in range(22))
    path = tmp_path / "tweets.tsv"
    path.write_text('text\tlabel\n"Fake news" is what he called it\t0\n\n"Taxes rose 3% in 2023, says a post\t1\n'
                    'He said "no" to it\t0\n' + rows, encoding="utf-8")
    report, _ = validate(path, "checkworthy")
    assert problems(report) == {} and report.rows_valid == 25
    from pipeline.training.data import read_rows

    assert read_rows(path).rows[:3] == [(2, {"text": '"Fake news" is what he called it', "label": "0"}),
                                        (4, {"text": '"Taxes rose 3% in 2023, says a post', "label": "1"}),
                                        (5, {"text": 'He said "no" to it', "label": "0"})]


def test_a_plain_tsv_quote_never_gives_a_row_the_next_rows_label(tmp_path):
    # the quote on line 2 closed at line 4's `55"`, across the blank line: one row, row 2's text running
    # on into row 3's, with row 3's label; row 3 was gone and nothing said so
    path = tmp_path / "tweets.tsv"
    path.write_text('id\ttext\tlabel\n2\t"Vaccines cause autism, claims a post\t1\n\n3\tMy new TV is 55"\t0\n',
                    encoding="utf-8")
    from pipeline.training.data import read_rows

    assert read_rows(path).rows == [(2, {"id": "2", "text": '"Vaccines cause autism, claims a post', "label": "1"}),
                                    (4, {"id": "3", "text": 'My new TV is 55"', "label": "0"})]


def test_an_unclosed_csv_quote_is_named_by_its_line(tmp_path):
    path = tmp_path / "quote.csv"
    path.write_text('text,label\n"Fine claim about taxes.",1\n"Unclosed claim,0\nSwallowed claim,1\n')
    with pytest.raises(InputError) as caught:
        validate(path, "checkworthy")
    assert caught.value.row == 3 and str(caught.value).endswith("quote opened on this row is not closed by the end of "
                                                                "the file; lines 3-4 were read as this one row")


def test_a_row_that_is_not_utf8_is_named_by_its_line(tmp_path):
    rows = "".join(json.dumps(r) + "\n" for r in rows_of(CHECKWORTHY)[:24]).encode()
    (tmp_path / "latin1.jsonl").write_bytes(rows + b'{"text": "caf\xe9 prices rose 3%", "label": 1}\n')
    report, _ = validate(tmp_path / "latin1.jsonl", "checkworthy")
    assert problems(report) == {"invalid UTF-8 (re-save the file as UTF-8)": (25,)}
    (tmp_path / "half.jsonl").write_bytes(rows + b'{"text": "cut \\ud83d emoji", "label": 1}\n')
    report, _ = validate(tmp_path / "half.jsonl", "checkworthy")
    assert problems(report) == {"half of a UTF-16 surrogate pair (an emoji cut in two?)": (25,)}
    (tmp_path / "latin1.csv").write_bytes(b"text,label\n" + b"a claim,1\n" * 3000 + b"caf\xe9 prices,1\n")
    with pytest.raises(InputError) as caught:
        validate(tmp_path / "latin1.csv", "checkworthy")
    assert caught.value.row == 3002 and "latin1.csv, row 3002: not UTF-8 text" in str(caught.value)


def test_a_key_given_twice_and_a_parquet_column_given_twice_are_named(tmp_path):
    rows = "".join(json.dumps(r) + "\n" for r in rows_of(CHECKWORTHY)[:24])
    (tmp_path / "twice.jsonl").write_text(rows + '{"text": "Taxes rose 3% in 2023.", "label": 0, "label": 1}\n'
                                          '{"text": "Taxes fell in 2022.", "label": 0, "note": 1, "note": 2}\n')
    report, _ = validate(tmp_path / "twice.jsonl", "checkworthy")  # the last label was taken, silently
    assert problems(report) == {"the key 'label' appears twice in the object": (25,)}
    # a \\u escape sent the row through the whole-object check: a repeated key nobody reads rejected it,
    # and the reason given was a cut emoji; a cut emoji in a key nobody reads is mended, as parse_object does
    (tmp_path / "escaped.jsonl").write_text(rows + '{"text": "Caf\\u00e9 prices rose 3%.", "label": 1, "note": 1, '
                                            '"note": 2}\n{"text": "Taxes fell.", "label": 0, "note": "cut \\ud83d"}\n'
                                            '{"text": "cut \\ud83d emoji", "label": 0}\n')
    report, _ = validate(tmp_path / "escaped.jsonl", "checkworthy")
    assert problems(report) == {"half of a UTF-16 surrogate pair (an emoji cut in two?)": (27,)}
    from pipeline.training.data import read_rows

    assert [row for _, row in read_rows(tmp_path / "escaped.jsonl").rows[24:]] == [
        {"text": "Café prices rose 3%.", "label": 1, "note": 2}, {"text": "Taxes fell.", "label": 0, "note": "cut \ufffd"}]
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table([pa.array(["A claim."]), pa.array([1]), pa.array([0])], names=["text", "label", "label"]),
                   tmp_path / "twice.parquet")
    with pytest.raises(InputError) as caught:  # was pyarrow's schema dump over eight lines
        validate(tmp_path / "twice.parquet", "checkworthy")
    assert str(caught.value) == (f"{tmp_path / 'twice.parquet'}: the column 'label' appears twice in the Parquet "
                                 "schema; rename or remove one")


@pytest.mark.slow
def test_validate_command_exits_2_with_one_line(tmp_path, write_jsonl):
    path = write_jsonl(tmp_path / "one.jsonl", [r for r in rows_of(CHECKWORTHY) if r["label"] == 1])
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "models", "validate", "checkworthy", str(path),
                           "--datasets", str(tmp_path / "none")], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=60)
    assert proc.returncode == 2 and "a single class" in proc.stderr and "Traceback" not in proc.stderr
    ok = subprocess.run([sys.executable, "-m", "pipeline.cli", "models", "validate", "checkworthy", str(CHECKWORTHY),
                         "--datasets", str(tmp_path / "none"), "--json"], capture_output=True, text=True, cwd=ROOT,
                        env=env, timeout=60)
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True


def test_nothing_trains_on_a_bad_file(tmp_path, write_jsonl):
    from pipeline.registry.registry import Registry
    from pipeline.training.retrain import retrain

    path = write_jsonl(tmp_path / "one.jsonl", [r for r in rows_of(CHECKWORTHY) if r["label"] == 0])
    with pytest.raises(TrainingDataError, match="a single class"):
        retrain("checkworthy", path, include_public=False, datasets_dir=None, models_dir=tmp_path / "models",
                log=lambda m: None)
    assert Registry(tmp_path / "models").names() == []


def test_a_row_far_longer_than_a_model_reads_is_named(tmp_path, write_jsonl):
    # One 30 MB row took 6.7 GB of memory to vectorise, after passing validation.
    rows = rows_of(CHECKWORTHY)
    rows[6] = {"text": "Unemployment rose. " * 2000, "label": 1}
    report, frame = validate(write_jsonl(tmp_path / "long.jsonl", rows), "checkworthy")
    assert problems(report) == {"text longer than 20,000 characters (the models read the first few hundred words; "
                                "cut it or drop the row)": (7,)}
    assert 7 not in frame["row"].tolist()


def test_an_evaluation_file_without_the_text_column_is_refused_not_skipped(tmp_path, write_jsonl):
    # With "Text" for "text" the leakage check against the file was silently off.
    from pipeline.core.errors import UserError

    rows = rows_of(CHECKWORTHY)
    capitalised = write_jsonl(tmp_path / "eval.jsonl", [{"Text": r["text"], "Label": r["label"]} for r in rows])
    with pytest.raises(UserError, match=r"eval.jsonl: no 'text' column to check leakage against \(found Label, Text\)"):
        evaluation_keys("checkworthy", None, [capitalised])


def test_validate_judges_a_small_file_as_retrain_does(tmp_path, write_jsonl, invoke_cli):
    # validate said "too few rows" of 5 rows that retrain then trained on (added to the public data).
    five = write_jsonl(tmp_path / "five.jsonl", rows_of(CHECKWORTHY)[:5])
    alone = invoke_cli("models", "validate", "checkworthy", five, "--no-public", "--datasets", tmp_path / "none")
    assert "too few rows" in str(alone.exception)
    added = invoke_cli("models", "validate", "checkworthy", five, "--datasets", ROOT.parent / "shared" / "datasets")
    if (ROOT.parent / "shared" / "datasets").is_dir():
        assert added.exit_code == 0 and "valid" in added.output, added.output


def test_a_broken_json_line_says_where_and_files_of_a_folder_are_each_named(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.jsonl").write_text('{"text": "ok row here", "label": 1}\n{"text": "bad\ttab", "label": 0}\n')
    (folder / "b.jsonl").write_text('{"text": "another", "label": 1}\n')
    with pytest.raises(TrainingDataError) as caught:
        load_training_data(folder, "checkworthy", datasets_dir=None)
    message = str(caught.value)
    assert "not valid JSON (Invalid control character at column 14)" in message
    assert not message.split(":")[0].endswith("row 2")  # "a.jsonl, b.jsonl, row 2" named no file's row
