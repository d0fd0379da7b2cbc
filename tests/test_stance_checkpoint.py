"""A stance training that stops part-way resumes from its last checkpoint instead of starting over."""
from __future__ import annotations

import json

import pytest

from pipeline.stance.pairs import StancePair, claim_key
from pipeline.stance.training import CHECKPOINT_STATE, CHECKPOINT_TENSORS, train_cross_encoder

pytestmark = pytest.mark.slow  # fine-tunes MiniLM for a few steps


def _pairs() -> list[StancePair]:
    rows = [("The bridge opened in 1932.", "The bridge was opened to traffic in 1932.", "SUPPORTS"),
            ("The bridge opened in 1932.", "The bridge did not open until 1950.", "REFUTES"),
            ("The bridge opened in 1932.", "The river is 40 km long.", "NOT_ENOUGH_INFO"),
            ("Vaccines contain microchips.", "No vaccine contains a microchip.", "REFUTES"),
            ("Vaccines contain microchips.", "Vaccines were tested on 40,000 people.", "NOT_ENOUGH_INFO"),
            ("Inflation fell to 2% in May.", "In May, inflation dropped to 2 percent.", "SUPPORTS")]
    return [StancePair(c, e, label, "test", claim_key(c)) for c, e, label in rows] * 4


def test_a_rerun_resumes_from_the_last_checkpoint(tmp_path):
    train = _pairs()  # 24 pairs, batch 4: 6 steps, a checkpoint after steps 2 and 4
    settings = dict(epochs=1.0, batch_size=4, lora_rank=4, lora_alpha=8, checkpoint_dir=tmp_path,
                    checkpoint_every=2, num_threads=1)
    first_log: list[str] = []
    _, _, info = train_cross_encoder(train, [], log=first_log.append, **settings)
    assert info["steps"] == 6
    saved = json.loads((tmp_path / CHECKPOINT_STATE).read_text())
    assert saved["step"] == 4 and (tmp_path / CHECKPOINT_TENSORS).is_file()
    assert not any("resuming" in line for line in first_log)

    second_log: list[str] = []
    _, _, resumed = train_cross_encoder(train, [], log=second_log.append, **settings)
    assert any("resuming from the checkpoint at step 4" in line for line in second_log)
    assert resumed["steps"] == 6 and resumed["pairs_seen"] == 24  # 16 counted from the checkpoint, 8 trained

    other_log: list[str] = []
    _, _, fresh = train_cross_encoder(train[:20], [], log=other_log.append, **settings)  # other data
    assert any("another run" in line for line in other_log) and fresh["steps"] == 5
