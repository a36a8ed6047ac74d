"""The cascade (issue #19): the embedding runs only where it can change the answer.

An order judged without the embedding whose item and variant checks clear their
REVIEW limits by the calibrated margins is a PASS without it; every other order
is judged with it. These tests pin that a decided-early order really skips the
forward pass, that an undecided one gets exactly the verdict the cascade-free
pipeline gives, and that calibration's margins let no fitted pair through.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from packcheck.apps.checker import Checker
from packcheck.core import embedding, judge
from packcheck.core.thresholds import DEFAULT_PATH, Band, Cascade, load_thresholds
from packcheck.core.verdict import CheckResult, Status
from packcheck.errors import ThresholdsError
from packcheck.tooling.calibration import calibrate as cal

SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
SHIPPED = load_thresholds()
OFF = dataclasses.replace(SHIPPED, cascade=Cascade())


QUANTILES = "".join(f"{k}_genuine_quantiles = {list(range(20))}\n" for k in ("item", "variant"))


def _without_cascade_section(text: str) -> str:
    return re.sub(r"\n\[cascade\]\n(?:[^\[\n][^\n]*\n|\n)*", "\n", text)


def test_a_thresholds_file_without_a_cascade_section_always_runs_the_embedding(tmp_path):
    p = tmp_path / "t.toml"
    p.write_text(_without_cascade_section(DEFAULT_PATH.read_text()))
    th = load_thresholds(p)
    assert th.cascade == Cascade() and not th.cascade.on and not judge.cascade_possible(th)


@pytest.mark.parametrize("value, why", [("-0.5", "must be >= 0"), ("nan", "finite"), ("inf", "finite")])
def test_a_negative_or_non_finite_margin_is_refused_naming_the_key(tmp_path, value, why):
    text = _without_cascade_section(DEFAULT_PATH.read_text())
    p = tmp_path / "t.toml"
    p.write_text(text.replace("\n[provenance]", f"\n[cascade]\nitem_margin = {value}\nvariant_margin = 1.0\n{QUANTILES}\n"
                                                "[provenance]", 1))
    with pytest.raises(ThresholdsError, match=rf"cascade\.item_margin.*{why}|{why}.*cascade\.item_margin"):
        load_thresholds(p)


def _th(item_margin=2.0, variant_margin=1.0):
    return dataclasses.replace(SHIPPED, cascade=Cascade(item_margin, variant_margin))


def _item(value, status=Status.PASS, judged=True):
    return CheckResult("item", status, None, "", value=value, judged=judged)


def _variant(value, status=Status.PASS, judged=True):
    return CheckResult("variant", status, None, "", value=value, judged=judged)


QUALITY_OK = CheckResult("quality", Status.PASS, None, "photo quality ok")


def test_cascade_decides_only_a_pass_that_clears_every_margin():
    th = _th()
    rb_i, rb_v = th.item.review_below, th.variant.review_below
    assert judge.cascade_decides([QUALITY_OK, _item(rb_i + 2.0)], th)
    assert not judge.cascade_decides([QUALITY_OK, _item(rb_i + 1.99)], th)
    assert judge.cascade_decides([QUALITY_OK, _item(rb_i + 3), _variant(rb_v + 1.0)], th)
    assert not judge.cascade_decides([QUALITY_OK, _item(rb_i + 3), _variant(rb_v + 0.99)], th)
    # a variant not judged, a retake, no item check, margins absent: never early
    assert not judge.cascade_decides([QUALITY_OK, _item(rb_i + 9), _variant(rb_v + 9, judged=False)], th)
    retake = CheckResult("quality", Status.REVIEW, "retake_photo", "too dark")
    assert not judge.cascade_decides([retake, _item(rb_i + 9)], th)
    assert not judge.cascade_decides([QUALITY_OK], th)
    assert not judge.cascade_decides([QUALITY_OK, _item(rb_i + 9)], OFF)
    # every signal but the embedding off: there is nothing to judge without it
    only_embedding = dataclasses.replace(th.with_signals(["embedding"]), cascade=th.cascade)
    assert not judge.cascade_decides([QUALITY_OK, _item(rb_i + 9)], only_embedding)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache") / "index.sqlite"
    Checker.open(SAMPLE_DATA, cache=cache, thresholds=OFF)  # fingerprint the listings once
    return cache


def _open(cache, th) -> Checker:
    return Checker.open(SAMPLE_DATA, cache=cache, thresholds=th)


def _same(a, b) -> dict:
    """The verdict's JSON without what may differ between runs of one pipeline (timings, stages)."""
    da, db = a.to_dict(), b.to_dict()
    for d in (da, db):
        d.pop("timings")
        d["meta"].pop("stages_run", None)
    return da == db


def _forward_passes(monkeypatch) -> list:
    calls = []
    real = embedding.embed

    def counting(crops, *a, **k):
        calls.append(len(crops))
        return real(crops, *a, **k)

    monkeypatch.setattr(embedding, "embed", counting)
    return calls


def test_a_clear_pass_is_judged_without_a_forward_pass_and_passes_as_with_it(demo, monkeypatch):
    """Margins of 0: any order whose checks PASS without the embedding is decided early."""
    early = _open(demo, _th(0.0, 0.0))
    full = _open(demo, OFF)
    calls = _forward_passes(monkeypatch)
    v = early.check_id("ORD-1008")  # cereal, conclusive geometry: a PASS by a wide margin
    assert v.status is Status.PASS and calls == []
    assert "embedding" not in v.meta.stages_run and "keypoints" in v.meta.stages_run
    assert dict(v.timings)["embedding"] == 0.0
    with_it = full.check_id("ORD-1008")
    assert calls and with_it.status is Status.PASS and "embedding" in with_it.meta.stages_run


def test_an_order_the_cascade_cannot_decide_gets_the_verdict_the_full_pipeline_gives(demo, monkeypatch):
    early, full = _open(demo, _th(0.0, 0.0)), _open(demo, OFF)
    calls = _forward_passes(monkeypatch)
    for order_id in ("ORD-1012", "ORD-1014", "ORD-1021"):  # a wrong item, a wrong variant, a REVIEW
        calls.clear()
        v = early.check_id(order_id)
        assert calls, f"{order_id}: the embedding must run for an order that is not a clear PASS"
        assert "embedding" in v.meta.stages_run
        assert _same(v, full.check_id(order_id)), order_id


def test_margins_no_order_clears_give_exactly_the_cascade_free_verdicts(demo):
    never = _open(demo, _th(1e6, 1e6))
    full = _open(demo, OFF)
    ids = list(dict.fromkeys(o for o in (line.split(",")[0] for line in
                                         (SAMPLE_DATA / "orders.csv").read_text().splitlines()[1:]) if o))
    for order_id in ids:
        assert _same(never.check_id(order_id), full.check_id(order_id)), order_id


def test_the_shipped_margins_change_no_status_of_the_demo_orders(demo):
    """The demo is data the shipped margins were not fitted on: the cascade must not change its statuses."""
    shipped, full = _open(demo, SHIPPED), _open(demo, OFF)
    ids = list(dict.fromkeys(line.split(",")[0] for line in (SAMPLE_DATA / "orders.csv").read_text().splitlines()[1:]))
    decided = 0
    for order_id in ids:
        v, w = shipped.check_id(order_id), full.check_id(order_id)
        assert v.status is w.status, order_id
        decided += v.meta is not None and "embedding" not in v.meta.stages_run
    assert SHIPPED.cascade.on


# ---------------------------------------------------------------- calibration's fit
def _pairs(rows):
    """rows: (label, item full, variant full or None, item cheap, variant cheap or None)."""
    built = cal.Pairs.build([(i, f"S{i}", lab, it, v) for i, (lab, it, v, _, _) in enumerate(rows)],
                            [f"p{i}" for i in range(len(rows))], groups=[f"g{i % 5}" for i in range(len(rows))],
                            cheap=(np.array([r[3] for r in rows], float),
                                   np.array([np.nan if r[4] is None else r[4] for r in rows], float)))
    return built


ITEM, VARIANT = Band(-5.0, -1.0), Band(-3.0, 0.0)


def test_fit_cascade_lets_no_pair_through_whose_status_the_embedding_changes():
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(300):  # genuine: pass with and without the embedding, cheap a little lower
        it = rng.normal(6, 2)
        rows.append(("match", it, None, it - abs(rng.normal(1, 1)), None))
    for _ in range(300):  # wrong items: fail with the embedding; some look fine without it
        rows.append(("wrong_item", rng.normal(-8, 2), None, rng.normal(-2, 3), None))
    for _ in range(100):  # wrong variants: item passes, the variant fails; cheap variant sometimes clears
        it = rng.normal(6, 2)
        rows.append(("wrong_variant", it, rng.normal(-4, 1), it - 0.5, rng.normal(-1, 1.5)))
    pairs = _pairs(rows)
    fitted = cal.fit_cascade(pairs, ITEM, VARIANT)
    assert fitted is not None and fitted.changed == 0
    early = cal.decided_early(pairs, ITEM, VARIANT, fitted.item_margin, fitted.variant_margin)
    ist, vst = cal.statuses(pairs, ITEM, VARIANT)
    assert not (early & ((ist > 0) | (vst > 0))).any()
    assert 0 < fitted.decided["match"] < 1
    # the margins are the smallest that do it: a step less lets a pair through
    smaller = cal.decided_early(pairs, ITEM, VARIANT, fitted.item_margin - 2 * cal.LIMIT_STEP,
                                fitted.variant_margin)
    assert (smaller & ((ist > 0) | (vst > 0))).any()


def test_fit_cascade_chooses_the_margins_that_decide_the_most_genuine_pairs():
    # One wrong variant whose cheap item score is very high: an item margin that excludes it would
    # keep every genuine pair; a variant margin excludes it at no cost (the genuine SKUs have no sibling).
    rows = [("match", 5.0 + i / 10, None, 4.0 + i / 10, None) for i in range(20)]
    rows.append(("wrong_variant", 9.0, -4.0, 20.0, 0.5))
    fitted = cal.fit_cascade(_pairs(rows), ITEM, VARIANT)
    assert fitted.variant_margin > 0.5 and fitted.item_margin == 0.0
    assert fitted.decided["match"] == 1.0 and fitted.changed == 0


def test_fit_cascade_needs_scores_without_the_embedding():
    pairs = cal.Pairs.build([(0, "A", "match", 3.0, None), (1, "A", "wrong_item", -9.0, None)])
    assert cal.fit_cascade(pairs, ITEM, VARIANT) is None


def test_the_audit_counts_the_orders_judged_without_the_embedding(demo, tmp_path):
    """Margins of 0 (every clear PASS early): the audit's summary and JSON say how many, and the CSV's
    statuses are those of an audit with the cascade off."""
    from packcheck.apps.audit.run import AuditConfig, run_audit
    from packcheck.cli.audit import format_summary

    text = _without_cascade_section(DEFAULT_PATH.read_text())
    off, zero = tmp_path / "off.toml", tmp_path / "zero.toml"
    off.write_text(text)
    zero.write_text(text.replace("\n[provenance]", "\n[cascade]\nitem_margin = 0.0\nvariant_margin = 0.0\n"
                                                   f"{QUANTILES}\n[provenance]", 1))
    runs = {}
    for name, th in (("off", off), ("zero", zero)):
        runs[name] = run_audit(AuditConfig(data_dir=SAMPLE_DATA, out=tmp_path / f"{name}.csv", workers=1,
                                           thresholds=th, cache=demo))
    s = runs["zero"]
    assert 0 < s.without_embedding < s.fingerprinted <= s.orders
    assert s.to_dict()["without_embedding"] == s.without_embedding
    assert f"embedding not needed for {s.without_embedding} of {s.fingerprinted} orders" in format_summary(s)
    assert runs["off"].without_embedding == 0 and runs["off"].fingerprinted == s.fingerprinted
    assert runs["off"].statuses == s.statuses

    def statuses(path):
        import csv
        return [(r["order_id"], r["status"]) for r in csv.DictReader(path.open(encoding="utf-8-sig"))]
    assert statuses(tmp_path / "off.csv") == statuses(tmp_path / "zero.csv")


def test_a_check_decided_early_is_ranked_against_genuine_scores_without_the_embedding():
    """The verdict's ranking number maps a value judged without the embedding through the genuine values
    without it: a typical early PASS must not rank as a rare (suspicious) full-pipeline score."""
    from packcheck.core import checks

    q_full = tuple(float(i) for i in range(20))
    q_cheap = tuple(float(i) - 10.0 for i in range(20))
    th = dataclasses.replace(SHIPPED, item=Band(-5.0, -1.0, q_full), cascade=Cascade(1.0, 1.0, q_cheap, q_cheap))
    early = checks.match_score([QUALITY_OK, _item(-3.0)], th, without_embedding=True)
    assert early > checks.match_score([QUALITY_OK, _item(-3.0)], th)
    assert early == pytest.approx(checks.match_score([QUALITY_OK, _item(7.0)], th))
    # a file with margins but no quantiles ranks an early check against the full values
    bare = dataclasses.replace(th, cascade=Cascade(1.0, 1.0))
    assert checks.match_score([_item(-3.0)], bare, without_embedding=True) == checks.match_score([_item(-3.0)], bare)
