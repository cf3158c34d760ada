"""The CPU-settings benchmark: variants, the rule, and the defaults it chose."""

from __future__ import annotations

import json

import pytest

from loadtests.bench_settings import MAX_P50_RISE, MAX_RPS_DROP, Variant, choose
from loadtests.paired import compare
from loadtests.report import PERFORMANCE_JSON
from service.settings import Settings


def test_a_variant_parses_and_sets_the_gateway_environment(monkeypatch) -> None:
    variant = Variant.parse("3:1")
    assert (variant.workers, variant.threads, variant.quality_threads, variant.label) == (3, 1, 1, "3:1")
    assert variant.env() == {
        "FIQA_CPU_WORKERS": "3",
        "FIQA_ORT_INTRA_OP_THREADS": "1",
        "FIQA_ORT_QUALITY_INTRA_OP_THREADS": "1",
    }
    split = Variant.parse("2:2:1")
    assert (split.threads, split.quality_threads, split.label) == (2, 1, "2:2:1")
    for key, value in split.env().items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert (settings.cpu_workers, settings.ort_intra_op_threads, settings.ort_quality_intra_op_threads) == (2, 2, 1)
    for text in ("0:2", "2", "2:2:0", "1:2:3:4"):
        with pytest.raises(ValueError):
            Variant.parse(text)


def test_the_current_variant_is_the_code_default_whatever_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("FIQA_CPU_WORKERS", "7")
    current = Variant.current()
    assert Settings().cpu_workers == 7
    assert current.workers == Settings.model_fields["cpu_workers"].default != 7


def test_the_code_defaults_are_the_variant_the_recorded_run_chose() -> None:
    recorded = json.loads(PERFORMANCE_JSON.read_text())["bench_settings"]
    assert Variant.current() == Variant.parse(recorded["choice"]["chosen"]), (
        "service/settings.py and the recorded bench_settings choice disagree: apply the run's choice, or rerun it"
    )


def _levels(throughput: dict[str, list[float]], p50: dict[str, list[float]]) -> list[dict]:
    """Synthetic levels: concurrency 8 carries ``throughput``, concurrency 1 ``p50``, per variant and round."""
    rows = []
    for variant, values in throughput.items():
        for number, value in enumerate(values):
            rows.append(
                {
                    "variant": variant,
                    "round": number,
                    "concurrency": 8,
                    "throughput_rps": value,
                    "latency_ms": {"p50": 100.0},
                    "errors": 0,
                }
            )
            latency = p50[variant][number]
            rows.append(
                {
                    "variant": variant,
                    "round": number,
                    "concurrency": 1,
                    "throughput_rps": 1000.0 / latency,
                    "latency_ms": {"p50": latency},
                    "errors": 0,
                }
            )
    return rows


def test_the_rule_takes_a_steady_gain_and_refuses_noise_and_slower_single_requests() -> None:
    throughput = {
        "2:2": [50.0, 55.0, 48.0, 52.0],
        "3:2": [56.0, 61.0, 53.0, 58.0],  # +6, +6, +5, +6: a gain in every round
        "4:2": [70.0, 50.0, 40.0, 65.0],  # larger on average, but the rounds disagree
        "3:1": [66.0, 71.0, 63.0, 68.0],  # the largest steady gain, but a single request is slower
    }
    slower = 1 + 2 * MAX_P50_RISE
    p50 = {
        "2:2": [25.0, 27.0, 24.0, 26.0],
        "3:2": [25.0, 27.0, 24.0, 26.0],
        "4:2": [25.0, 27.0, 24.0, 26.0],
        "3:1": [25.0 * slower, 27.0 * slower, 24.0 * slower, 26.0 * slower],
    }
    rows = compare(_levels(throughput, p50), "2:2")
    top = {row["variant"]: row for row in rows if row["concurrency"] == 8}
    assert top["3:2"]["req/s vs current"]["low"] > 0
    assert top["4:2"]["req/s vs current"]["low"] < 0 < top["4:2"]["req/s vs current"]["mean"]
    choice = choose(rows, "2:2")
    assert choice["arms"] == {"3:2": ["throughput"]} and choice["chosen"] == "3:2"


def test_the_rule_takes_a_steady_latency_gain_that_costs_little_throughput() -> None:
    throughput = {
        "2:2": [50.0, 55.0, 48.0, 52.0],
        "2:2:1": [49.0, 54.5, 47.5, 51.0],  # about 1 % lower under load
        "3:2": [45.0, 50.0, 43.0, 47.0],  # about 10 % lower under load
    }
    p50 = {
        "2:2": [25.0, 27.0, 24.0, 26.0],
        "2:2:1": [23.0, 25.0, 22.5, 24.0],  # lower in every round
        "3:2": [23.0, 25.0, 22.5, 24.0],
    }
    rows = compare(_levels(throughput, p50), "2:2")
    single = {row["variant"]: row for row in rows if row["concurrency"] == 1}
    assert single["2:2:1"]["p50 vs current"]["high"] < 0
    choice = choose(rows, "2:2")
    assert choice["arms"] == {"2:2:1": ["latency"]} and choice["chosen"] == "2:2:1"
    assert f"at most {MAX_RPS_DROP:.0%} lower" in choice["rule"]


def test_without_a_qualified_variant_the_current_setting_stays() -> None:
    same = {"2:2": [50.0, 52.0], "3:2": [49.0, 53.0]}
    rows = compare(_levels(same, {"2:2": [25.0, 25.0], "3:2": [25.0, 25.0]}), "2:2")
    assert choose(rows, "2:2")["chosen"] == "2:2"
