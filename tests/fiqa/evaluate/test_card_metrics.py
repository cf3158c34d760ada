"""Cards quote the evaluation report, and only what it holds: written by card-metrics, checked against it."""

from __future__ import annotations

from fiqa.evaluate.card_metrics import metrics_for, refreshed


def area(value: float) -> dict:
    return {"value": value, "low": value - 0.1, "high": value + 0.1, "replicates": 500.0}


def quality(value: float) -> dict:
    return {"fixed": {"0.001": {"pauc_0.2": area(value), "pauc_0.3": area(value - 0.05)}}}


def report() -> dict:
    paired = quality(0.8)
    paired["fixed"]["0.001"]["vs_diffiqa"] = {
        "pauc_0.2": {"value": 0.1, "low": -0.02, "high": 0.2, "share_lower": 0.031, "replicates": 500}
    }
    paired["fixed"]["0.001"]["vs_face_size"] = {
        "pauc_0.2": {"value": -0.1, "low": -0.2, "high": -0.05, "share_lower": 0.99, "replicates": 500}
    }
    return {
        "datasets": {
            "lfw": {
                "recognition": {
                    "dlib": {"quality": {"m": paired, "diffiqa": quality(0.7), "face_size": quality(0.9)}},
                    "other": {"quality": {"diffiqa": quality(0.6)}},  # the model was not evaluated with this one
                }
            },
            "orl": {"recognition": {"dlib": {"quality": {"m": quality(0.5)}}}},
        }
    }


def test_card_lines_quote_the_area_and_paired_differences_with_their_verdict() -> None:
    assert metrics_for(report(), "m") == {
        "eval_lfw_pauc0.2_fmr1e-3_dlib": "0.800 [0.700, 0.900]; minus diffiqa +0.100 [-0.020, +0.200] (not "
        "significant); minus face_size -0.100 [-0.200, -0.050] (lower (better), significant)",
        "eval_orl_pauc0.2_fmr1e-3_dlib": "0.500 [0.400, 0.600]",
    }
    assert metrics_for(report(), "m", ["orl"]) == {"eval_orl_pauc0.2_fmr1e-3_dlib": "0.500 [0.400, 0.600]"}
    assert metrics_for(report(), "absent") == {}


def test_refresh_replaces_old_protocol_lines_and_keeps_the_rest() -> None:
    card = {
        "name": "m",
        "metrics": {
            "per_face_ms_batch1": "4.0 ms",
            "lfw_view2_pauc_fmr1e-3_discard0.2_dlib": "0.801",
            "eval_yale_pauc0.2_fmr1e-3_dlib": "0.9",
        },
    }
    new = refreshed(card, report(), None)
    assert list(new["metrics"]) == [
        "per_face_ms_batch1",
        "eval_lfw_pauc0.2_fmr1e-3_dlib",
        "eval_orl_pauc0.2_fmr1e-3_dlib",
    ]
    assert card["metrics"]["eval_yale_pauc0.2_fmr1e-3_dlib"] == "0.9"  # the input is left as it was
