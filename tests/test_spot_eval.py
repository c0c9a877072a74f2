"""The MEGC spotting evaluation and the STR score on cases worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from mefuse.data.intervals import check_intervals, expression_type
from mefuse.errors import ConfigError, DataError
from mefuse.spotting import Counts, evaluate_spotting, interval_iou, str_score


def _table(*rows: tuple) -> pd.DataFrame:
    """Rows ``(video, onset, offset, type[, emotion])``."""
    columns = ["video", "onset", "offset", "type", "emotion"][:len(rows[0])] if rows else \
        ["video", "onset", "offset", "type"]
    return pd.DataFrame(list(rows), columns=columns)


def test_iou_counts_frames_with_inclusive_bounds():
    assert interval_iou(0, 4, 0, 9) == 0.5  # 5 shared frames of 10 (half-open would say 4/9)
    assert interval_iou(0, 4, 0, 10) == pytest.approx(5 / 11)
    assert interval_iou(3, 3, 3, 3) == 1.0  # a single frame is one frame, not zero
    assert interval_iou(0, 4, 5, 9) == 0.0
    assert interval_iou(0, 9, 5, 14) == pytest.approx(5 / 15)


def test_exact_match_is_one_true_positive():
    truth = _table(("v1", 10, 20, "ME"))
    scores = evaluate_spotting(truth.copy(), truth)
    assert scores.by_type["ME"] == Counts(1, 0, 0)
    assert scores.by_type["MaE"] == Counts(0, 0, 0)
    assert (scores.overall.precision, scores.overall.recall, scores.f1) == (1.0, 1.0, 1.0)
    assert scores.matches[["pred", "truth", "iou"]].values.tolist() == [[0, 0, 1.0]]


def test_iou_of_exactly_half_counts_and_just_below_does_not():
    at_half = evaluate_spotting(_table(("v", 0, 4, "MaE")), _table(("v", 0, 9, "MaE")))
    assert at_half.by_type["MaE"] == Counts(1, 0, 0)
    below = evaluate_spotting(_table(("v", 0, 4, "MaE")), _table(("v", 0, 10, "MaE")))  # 5/11
    assert below.by_type["MaE"] == Counts(0, 1, 1) and below.f1 == 0.0
    above = evaluate_spotting(_table(("v", 0, 5, "MaE")), _table(("v", 0, 10, "MaE")))  # 6/11
    assert above.by_type["MaE"] == Counts(1, 0, 0)


def test_a_truth_is_matched_once_the_second_prediction_is_a_false_positive():
    truth = _table(("v", 0, 9, "ME"))
    pred = _table(("v", 0, 9, "ME"), ("v", 1, 9, "ME"))
    scores = evaluate_spotting(pred, truth)
    assert scores.overall == Counts(1, 1, 0)
    assert scores.overall.precision == 0.5 and scores.overall.recall == 1.0
    assert scores.f1 == pytest.approx(2 / 3)
    assert scores.matches["pred"].tolist() == [0]  # the first prediction takes it


def test_a_prediction_matches_at_most_one_truth():
    # [0, 3] has IoU exactly 0.5 with both halves: one TP, the other half a FN.
    scores = evaluate_spotting(_table(("v", 0, 3, "ME")),
                               _table(("v", 0, 1, "ME"), ("v", 2, 3, "ME")))
    assert scores.overall == Counts(1, 0, 1)
    assert scores.matches["truth"].tolist() == [0]


def test_types_must_agree():
    scores = evaluate_spotting(_table(("v", 0, 9, "macro")), _table(("v", 0, 9, "ME")))
    assert scores.by_type["ME"] == Counts(0, 0, 1)
    assert scores.by_type["MaE"] == Counts(0, 1, 0)
    assert scores.overall == Counts(0, 1, 1) and scores.f1 == 0.0


def test_videos_must_agree_and_extra_videos_count_as_false_positives():
    scores = evaluate_spotting(_table(("other", 0, 9, "ME")), _table(("v", 0, 9, "ME")))
    assert scores.overall == Counts(0, 1, 1)
    assert scores.extra_videos == ("other",)


def test_no_predictions_scores_zero_without_dividing_by_zero():
    truth = _table(("v", 0, 9, "ME"), ("v", 30, 90, "MaE"))
    for empty in (pd.DataFrame(), pd.DataFrame(columns=["video", "onset", "offset", "type"])):
        scores = evaluate_spotting(empty, truth)
        assert scores.overall == Counts(0, 0, 2)
        assert (scores.overall.precision, scores.overall.recall, scores.f1) == (0.0, 0.0, 0.0)
    nothing = evaluate_spotting(pd.DataFrame(), pd.DataFrame())
    assert nothing.overall == Counts() and nothing.f1 == 0.0


def test_scores_accumulate_counts_over_videos_instead_of_averaging():
    truth = _table(("a", 0, 9, "ME"),
                   ("b", 0, 9, "ME"), ("b", 20, 29, "ME"), ("b", 40, 49, "ME"))
    pred = _table(("a", 0, 9, "ME"), ("b", 100, 109, "ME"))
    scores = evaluate_spotting(pred, truth)
    assert scores.by_video == {"a": Counts(1, 0, 0), "b": Counts(0, 1, 3)}
    per_video_mean = (scores.by_video["a"].f1 + scores.by_video["b"].f1) / 2
    assert per_video_mean == 0.5
    # Summed: TP 1, FP 1, FN 3 -> P 1/2, R 1/4, F1 = 2 * 1/8 / (3/4) = 1/3.
    assert scores.overall == Counts(1, 1, 3)
    assert scores.f1 == pytest.approx(1 / 3)


def test_table_and_dict_list_each_type_and_overall():
    scores = evaluate_spotting(_table(("v", 0, 9, "ME"), ("v", 50, 99, "MaE")),
                               _table(("v", 0, 9, "ME"), ("v", 200, 240, "MaE")))
    table = scores.table()
    assert table.index.tolist() == ["ME", "MaE", "overall"]
    assert table.loc["ME", "f1"] == 1.0 and table.loc["MaE", "f1"] == 0.0
    assert table.loc["overall", ["tp", "fp", "fn"]].tolist() == [1, 1, 1]
    assert scores.to_dict()["overall"]["f1"] == pytest.approx(0.5)
    only_me = evaluate_spotting(_table(("v", 0, 9, "ME"), ("v", 50, 99, "MaE")),
                                _table(("v", 0, 9, "ME"), ("v", 200, 240, "MaE")), types="ME")
    assert list(only_me.by_type) == ["ME"] and only_me.f1 == 1.0


def test_str_score_on_a_hand_case():
    truth = _table(("v1", 0, 9, "ME", "happiness"), ("v1", 20, 29, "ME", "surprise"),
                   ("v1", 40, 49, "ME", "happiness"), ("v2", 0, 9, "ME", "disgust"))
    pred = _table(("v1", 0, 9, "ME", "Happiness"),   # spotted, recognised
                  ("v1", 20, 29, "ME", "happiness"),  # spotted, wrong emotion
                  ("v1", 60, 69, "ME", "surprise"))   # not an expression
    result = str_score(pred, truth)
    # Spotting: TP 2, FP 1, FN 2 -> P 2/3, R 1/2, F1 4/7.
    assert result.spotting.overall == Counts(2, 1, 2)
    assert result.spotting.f1 == pytest.approx(4 / 7)
    # Analysis over the 2 spotted pairs (true, predicted): (happiness, happiness),
    # (surprise, happiness). happiness P 1/2 R 1; surprise P 0 R 0; disgust P 0 R 0.
    assert result.by_emotion == {"happiness": Counts(1, 1, 0), "surprise": Counts(0, 0, 1),
                                 "disgust": Counts(0, 0, 0)}
    assert result.analysis_precision == pytest.approx(1 / 6)
    assert result.analysis_recall == pytest.approx(1 / 3)
    assert result.analysis_f1 == pytest.approx(2 / 9)  # 2 * 1/18 / (1/2)
    assert result.uar == pytest.approx(1 / 3)
    assert result.strs == pytest.approx(4 / 7 * 2 / 9)  # 8/63
    assert result.to_dict()["strs"] == pytest.approx(8 / 63)


def test_str_score_perfect_recognition_of_one_emotion_is_one():
    truth = _table(("v", 0, 9, "ME", "happiness"), ("v", 20, 29, "ME", "happiness"))
    result = str_score(truth.copy(), truth)
    assert result.analysis_f1 == 1.0 and result.strs == 1.0


def test_str_score_emotions_restrict_the_analysis():
    truth = _table(("v", 0, 9, "ME", "happiness"), ("v", 20, 29, "ME", "others"))
    pred = _table(("v", 0, 9, "ME", "happiness"), ("v", 20, 29, "ME", "happiness"))
    assert str_score(pred, truth, emotions=["happiness"]).analysis_f1 == 1.0
    assert str_score(pred, truth).analysis_f1 < 1.0


def test_bad_tables_and_options_are_named():
    with pytest.raises(DataError, match="missing column.*type"):
        evaluate_spotting(_table(("v", 0, 9, "ME")).drop(columns="type"), _table(("v", 0, 9, "ME")))
    with pytest.raises(DataError, match="row 1: onset 9 .. offset 3"):
        evaluate_spotting(_table(("v", 0, 9, "ME"), ("v", 9, 3, "ME")), _table(("v", 0, 9, "ME")))
    with pytest.raises(DataError, match="ground truth: row 0: type 'blink'"):
        evaluate_spotting(_table(("v", 0, 9, "ME")), _table(("v", 0, 9, "blink")))
    with pytest.raises(ConfigError, match="threshold"):
        evaluate_spotting(_table(("v", 0, 9, "ME")), _table(("v", 0, 9, "ME")), threshold=0)
    with pytest.raises(ConfigError, match="emotion"):
        str_score(_table(("v", 0, 9, "ME")), _table(("v", 0, 9, "ME")))


def test_type_spellings_of_the_datasets():
    assert [expression_type(t) for t in ("ME", "micro-expression", "Micro - 1/2", "me")] == \
        ["ME"] * 4
    assert [expression_type(t) for t in ("MaE", "macro-expression", "Macro", "macro")] == \
        ["MaE"] * 4
    assert expression_type("blink") is None and expression_type(None) is None
    checked = check_intervals(_table(("v", 1.0, 3.0, "Macro")), "t")
    assert checked["onset"].tolist() == [1] and checked["type"].tolist() == ["MaE"]


def test_str_score_without_predictions_is_zero():
    truth = _table(("v", 0, 9, "ME", "happiness"))
    result = str_score(pd.DataFrame(), truth)
    assert result.strs == 0.0 and result.spotting.overall == Counts(0, 0, 1)
    assert result.by_emotion == {"happiness": Counts(0, 0, 0)}
