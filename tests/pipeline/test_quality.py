import pytest

from pipeline.quality import check_segment_rate, segment_rate, usual_range


def test_rate_is_per_minute_of_video():
    assert segment_rate(30, 600.0) == pytest.approx(3.0)
    assert segment_rate(5, 0.0) == 0.0


def test_no_range_without_history_passes_and_says_why():
    check = check_segment_rate(10, 60.0, [9.0, 11.0])
    assert check.passed and check.low is None
    assert "need 3" in check.description


def test_usual_range_is_robust_to_one_outlier():
    low, high = usual_range([10.0, 11.0, 9.0, 10.0, 55.0])
    assert low < 10.0 < high < 20.0


def test_rate_far_outside_the_history_fails():
    history = [10.0, 11.0, 9.5, 10.5, 10.0]
    assert check_segment_rate(10, 60.0, history).passed
    collapse = check_segment_rate(1, 60.0, history)
    assert not collapse.passed and "OUTSIDE" in collapse.description
    burst = check_segment_rate(40, 60.0, history)
    assert not burst.passed
