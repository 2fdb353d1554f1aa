import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import cross_validate

from skdistill.model_selection import ChronologicalFolds, LeaveSessionOut, SegmentSplit


def test_segment_split_reference_sizes():
    # N = 65 segments -> floor(6.5) = 6 val, 6 test (exact) or 7 test (as released), rest train
    session = np.repeat(["a"], 65 * 10)
    roles = SegmentSplit(10).assign(np.zeros(len(session)), session)
    counts = {r: int((roles == r).sum()) // 10 for r in ("train", "val", "test")}
    assert counts == {"train": 53, "val": 6, "test": 6}
    roles = SegmentSplit(10, split_mode="as_released").assign(np.zeros(len(session)), session)
    assert {r: int((roles == r).sum()) // 10 for r in ("train", "val", "test")} == {
        "train": 52, "val": 6, "test": 7}


def test_segment_split_keeps_segments_whole_and_per_session():
    session = np.repeat(["a", "b"], [1005, 800])
    roles = SegmentSplit(100).assign(np.zeros(len(session)), session)
    assert (roles[1000:1005] == "dropped").all()  # the remainder of session a
    for start in range(0, 1000, 100):
        assert len(set(roles[start : start + 100])) == 1
    assert {r for r in roles[1005:]} == {"train", "val", "test"}
    train, test = next(SegmentSplit(100).split(np.zeros(len(session)), groups=session))
    assert len(np.intersect1d(train, test)) == 0
    # the same seed gives the same split; another seed another
    again = SegmentSplit(100).assign(np.zeros(len(session)), session)
    assert (again == roles).all()
    other = SegmentSplit(100, random_state=0).assign(np.zeros(len(session)), session)
    assert (other != roles).any()


def test_segment_split_too_short_session():
    with pytest.raises(ValueError, match="fewer than 3 segments"):
        SegmentSplit(100).assign(np.zeros(250), np.repeat("a", 250))


def test_leave_session_out_and_cross_validate():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = X @ [1.0, -2.0, 0.5]
    session = np.repeat(["a", "b", "c"], 100)
    folds = list(LeaveSessionOut().split(X, groups=session))
    assert [len(te) for _, te in folds] == [100, 100, 100]
    assert all(set(session[te]) == {s} for (_, te), s in zip(folds, "abc"))
    scores = cross_validate(Ridge(1e-6), X, y, groups=session, cv=LeaveSessionOut())
    assert np.allclose(scores["test_score"], 1.0)
    scores = cross_validate(Ridge(1e-6), X, y, groups=session, cv=SegmentSplit(10))
    assert len(scores["test_score"]) == 1
    with pytest.raises(ValueError, match="groups"):
        list(LeaveSessionOut().split(X))


def test_chronological_folds_layout_and_buffers():
    session = np.repeat(["a", "b"], 1000)
    folds = list(ChronologicalFolds().split(np.zeros(2000), groups=session))
    assert len(folds) == 5
    train, test = folds[0]
    # fold 0 of session a: [buffer 0-50 | test 50-150 | buffer 150-200 | train 200-1000]
    assert test.min() == 50 and test[test < 1000].max() == 149
    assert np.setdiff1d(np.arange(1000), np.concatenate([train, test])).tolist() == (
        list(range(50)) + list(range(150, 200)))
    starts = [te[te < 1000].min() for _, te in folds]
    assert starts == [50, 850, 250, 650, 450]


def test_chronological_folds_slide_for_both_classes():
    y = np.zeros(1000, int)
    y[300:320] = 1  # positives only around 30 %
    session = np.repeat("a", 1000)
    for _, test in ChronologicalFolds().split(np.zeros(1000), y, groups=session):
        assert set(y[test]) == {0, 1}
    with pytest.raises(ValueError, match="both classes"):
        list(ChronologicalFolds().split(np.zeros(1000), np.zeros(1000), groups=session))


def test_chronological_folds_refuse_more_folds_than_distinct_windows():
    with pytest.raises(ValueError, match="n_splits=50 asks for more folds than the data give distinct test "
                                         "windows \\(6; the shortest session has 6 rows\\)"):
        list(ChronologicalFolds(n_splits=50).split(np.zeros((6, 1))))
    folds = list(ChronologicalFolds(n_splits=8).split(np.zeros((200, 1))))
    assert len({tuple(test) for _, test in folds}) == 8


@pytest.mark.parametrize("cv, message", [
    (ChronologicalFolds(n_splits=0), "n_splits must be a positive int"),
    (ChronologicalFolds(test_fraction=0.0), "test_fraction must be a fraction in \\(0, 1\\)"),
    (SegmentSplit(segment_length=5, n_splits=0), "n_splits must be a positive int"),
    (SegmentSplit(segment_length=2.5), "segment_length must be a positive int"),
    (LeaveSessionOut(sessions="a"), "sessions must be a list of session labels"),
])
def test_splitter_parameters_are_checked(cv, message):
    groups = np.repeat(["a", "b"], 50)
    with pytest.raises(ValueError, match=message):
        list(cv.split(np.zeros((100, 1)), groups=groups))


def test_splitters_refuse_no_rows():
    with pytest.raises(ValueError, match="X has no rows"):
        list(SegmentSplit(segment_length=5).split(np.zeros((0, 1))))
