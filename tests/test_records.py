"""Typed records keep the JSON's shape: every demo order's verdict has the keys it had before.

``tests/data/demo_verdicts.json`` holds, per demo order, the top-level keys of
``Verdict.to_dict()``, its status and reasons, and per check its status, reason
and the names of its details, as the verdict had them before the details became
typed records (#17), with what #16 added: ``judged`` on every check, the count
check's ``method`` (counted against the empty-bench photo or without one) and the
weight check of the weight set. Scores are not pinned here (the demo's expected
statuses are, in test_cli_end_to_end); names are: the CLI's --json, the audit rows
and the evidence store's verdict JSON are read by other programs.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from packcheck.apps.checker import Checker
from packcheck.core.records import ItemDetails, QualityDetails, SignalValues
from helpers import SAMPLE_DATA

GOLDEN = json.loads((Path(__file__).parent / "data" / "demo_verdicts.json").read_text())


@pytest.fixture(scope="module")
def checker():
    return Checker.open(SAMPLE_DATA)


@pytest.mark.parametrize("order_id", sorted(GOLDEN))
def test_demo_verdict_json_has_the_same_names(checker, order_id):
    want = GOLDEN[order_id]
    got = checker.check_id(order_id).to_dict()
    assert list(got) == want["keys"]
    assert (got["status"], list(got["reasons"]), list(got["meta"])) == (want["status"], want["reasons"], want["meta"])
    assert [(c["check"], c["status"], c["reason"], list(c)) for c in got["checks"]] == \
        [(c["check"], c["status"], c["reason"], c["keys"]) for c in want["checks"]]
    # Details keep their names (the item check's raw_* now follow the signal order of its z_*).
    assert [set(c["details"]) for c in got["checks"]] == [set(c["details"]) for c in want["checks"]]


def test_details_serialise_flat_with_their_old_names():
    item = ItemDetails(0.25, "listings/A.jpg", SignalValues(embedding=1.5, colour=-0.5),
                       SignalValues(embedding=0.6, colour=-0.9), decided_by="colour")
    assert item.to_dict() == {"own_fused": 0.25, "listing_image": "listings/A.jpg", "z_embedding": 1.5,
                              "z_colour": -0.5, "raw_embedding": 0.6, "raw_colour": -0.9, "decided_by": "colour",
                              "matched_sku": None, "matched_reference": False, "conclusive": False,
                              "nearest_product": None}
    q = QualityDetails(brightness=(102.9, 80.0), sharpness=(64.9, 12.0))
    assert q.to_dict() == {"photo1_brightness": 102.9, "photo1_sharpness": 64.9,
                           "photo2_brightness": 80.0, "photo2_sharpness": 12.0}
