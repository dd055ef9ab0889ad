"""Lingbi's assessment (003 四(二)) on township figures built by hand, where the right answer is known:
tiers of 3/5/5 then 30,000 for every other completer, ties, nobody completing, the work subsidy."""

from __future__ import annotations

import polars as pl
import pytest

from canbao.errors import InputError
from canbao.policy import load_policy
from canbao.policy.schema import Assessment
from canbao.services.assessment import assign_prizes, policy_assessment

P = "anhui/suzhou/lingbi/2022"


@pytest.fixture(scope="module")
def lingbi() -> Assessment:
    assessment = load_policy(P).assessment
    assert assessment is not None
    return assessment


def _towns(rows: list[tuple[str, int, int, int, int]]) -> pl.DataFrame:
    """(code suffix, enrollment target, enrolled, e-voucher target, activated) per township."""
    return pl.DataFrame(
        {
            "township": [f"镇{code}" for code, *_ in rows],
            "township_code": [f"341323{code}" for code, *_ in rows],
            "enrollment_target": [r[1] for r in rows],
            "enrolled": [r[2] for r in rows],
            "e_voucher_target": [r[3] for r in rows],
            "activated": [r[4] for r in rows],
        },
        schema_overrides={"enrollment_target": pl.Int64, "e_voucher_target": pl.Int64},
    )


def test_lingbi_policy_holds_the_notice_figures(lingbi: Assessment) -> None:
    assert lingbi.cutoff.isoformat() == "2021-12-31"
    assert (lingbi.targets.enrollment, lingbi.targets.e_voucher) == (1_100_000, 171_250)
    assert lingbi.work_subsidy.per_enrollee == 1
    assert [(t.count, t.amount) for t in lingbi.prizes.tiers] == [(3, 100_000), (5, 80_000), (5, 50_000)]
    assert lingbi.prizes.others_amount == 30_000
    assert lingbi.ranking == ["enrollment_rate", "e_voucher_rate"]
    assert "非通知原文" in lingbi.ranking_note


def test_fifteen_completers_get_three_five_five_and_two_others(lingbi: Assessment) -> None:
    # Township k (1..15) completes with enrollment rate 200 - k %, so the order is 1, 2, ..., 15; two more
    # miss one target each.
    rows = [(f"{100 + k}", 100, 200 - k, 10, 10) for k in range(1, 16)]
    rows += [("201", 100, 99, 10, 10), ("202", 100, 150, 10, 9)]
    result = assign_prizes(_towns(rows), lingbi)
    completers = result.filter(pl.col("completed")).sort("rank")
    assert completers["township"].to_list() == [f"镇{100 + k}" for k in range(1, 16)]
    assert completers["prize"].to_list() == ["一等奖"] * 3 + ["二等奖"] * 5 + ["三等奖"] * 5 + ["完成任务奖"] * 2
    yuan = [f // 100 for f in completers["prize_fen"].to_list()]
    assert yuan == [100_000] * 3 + [80_000] * 5 + [50_000] * 5 + [30_000] * 2
    assert sum(yuan) == 3 * 100_000 + 5 * 80_000 + 5 * 50_000 + 2 * 30_000
    missed = result.filter(~pl.col("completed"))
    assert set(missed["township"]) == {"镇201", "镇202"}
    assert missed["rank"].is_null().all() and missed["prize_fen"].is_null().all()
    # 1 yuan per enrollee (003 四(二)1) whether or not the township completed.
    assert dict(result.select("township", "work_subsidy_fen").rows())["镇201"] == 99 * 100


def test_ties_go_to_the_e_voucher_rate_then_enrolled_then_code(lingbi: Assessment) -> None:
    rows = [
        ("103", 100, 110, 10, 12),  # 110 %, e-voucher 120 %
        ("102", 200, 220, 10, 12),  # 110 %, 120 %, more enrolled: before 103
        ("101", 100, 110, 10, 12),  # same as 103 in everything but the code: before 103
        ("104", 100, 110, 10, 15),  # 110 %, 150 %: first
        ("105", 300, 331, 10, 10),  # 110.33 %: above every 110 %
    ]
    result = assign_prizes(_towns(rows), lingbi).sort("rank")
    assert result["township"].to_list() == ["镇105", "镇104", "镇102", "镇101", "镇103"]
    assert result["prize"].to_list() == ["一等奖"] * 3 + ["二等奖"] * 2


def test_exact_rates_not_rounded_basis_points_decide(lingbi: Assessment) -> None:
    # 100010/100000 and 100011/100000 are both 10001 basis points; the larger still ranks first.
    rows = [("101", 100_000, 100_010, 10, 10), ("102", 100_000, 100_011, 10, 10)]
    result = assign_prizes(_towns(rows), lingbi).sort("rank")
    assert result["enrollment_rate_bp"].to_list() == [10_001, 10_001]
    assert result["township"].to_list() == ["镇102", "镇101"]


def test_nobody_completes(lingbi: Assessment) -> None:
    rows = [("101", 100, 99, 10, 20), ("102", 100, 120, 10, 9), ("103", 100, 0, 10, 0)]
    result = assign_prizes(_towns(rows), lingbi)
    assert not result["completed"].any() and result["prize_fen"].is_null().all()
    assert result["work_subsidy_fen"].to_list() == [r[2] * 100 for r in sorted(rows, key=lambda r: -r[2])]


def test_a_township_without_targets_cannot_complete(lingbi: Assessment) -> None:
    frame = _towns([("101", 100, 120, 10, 20)]).vstack(
        pl.DataFrame(
            {"township": ["镇999"], "township_code": [None], "enrollment_target": [None], "enrolled": [50],
             "e_voucher_target": [None], "activated": [5]},
            schema=_towns([("1", 1, 1, 1, 1)]).schema,
        )
    )  # fmt: skip
    result = assign_prizes(frame, lingbi)
    assert dict(result.select("township", "completed").rows()) == {"镇101": True, "镇999": False}


def test_a_policy_without_assessment_says_so() -> None:
    with pytest.raises(InputError, match="本政策没有考核奖惩规定"):
        policy_assessment("anhui/bengbu/2022")
