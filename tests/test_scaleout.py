"""Scale-out on Dask: GridSearchCV / cross_validate through joblib's dask backend, on a local
cluster of two worker processes, give the results of a sequential run; the estimators pickle to
the workers and back."""

import numpy as np
import pytest

distributed = pytest.importorskip("distributed", reason="dask[distributed] is not installed")

import joblib  # noqa: E402
import sklearn  # noqa: E402
from sklearn.frozen import FrozenEstimator  # noqa: E402
from sklearn.linear_model import Ridge  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_validate  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402

from skdistill import DistilledLFPTransformer, LFPTransformer, MaskedSpikeTransformer  # noqa: E402
from skdistill.model_selection import SegmentSplit  # noqa: E402

SMALL = dict(segment_length=10, patch_size=4, d_model=16, n_layers=1, n_heads=2, batch_size=16,
             max_epochs=1, random_state=0, device="cpu")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 300
    lat = np.cumsum(rng.normal(size=(2 * n, 2)), axis=0) * 0.1
    spikes = rng.poisson(np.exp(0.3 + 0.5 * lat @ rng.normal(size=(2, 12)))).astype(float)
    lfp = lat @ rng.normal(size=(2, 8)) + 0.3 * rng.normal(size=(2 * n, 8))
    spikes[n:, 11] = np.nan  # session b lacks a unit
    return spikes, lfp, lat, np.repeat(["a", "b"], n)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                                       dashboard_address=None, memory_limit=None)
    client = distributed.Client(cluster)
    client.run(lambda: __import__("skdistill.estimators"))  # workers import torch once, up front
    yield client
    client.close()
    cluster.close()


def _workers_used(task_stream):
    return {task["worker"] for task in task_stream.data}


def test_grid_search_on_a_dask_cluster_matches_sequential(client, data):
    S, _, y, s = data
    cv = SegmentSplit(segment_length=50, n_splits=2)
    grid = {"encoder__mask_ratio": [0.3, 0.6], "ridge__alpha": [0.1, 10.0]}  # 4 x 2 folds
    with sklearn.config_context(enable_metadata_routing=True):
        encoder = MaskedSpikeTransformer(decoder_width=8, **SMALL)
        encoder.set_fit_request(session=True).set_transform_request(session=True)
        pipe = Pipeline([("encoder", encoder), ("ridge", Ridge())])
        local = GridSearchCV(pipe, grid, cv=cv, error_score="raise").fit(S, y, session=s, groups=s)
        with distributed.get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
            remote = GridSearchCV(pipe, grid, cv=cv, n_jobs=-1, error_score="raise")
            remote.fit(S, y, session=s, groups=s)
    # the fits ran on both workers
    assert _workers_used(tasks) == set(client.scheduler_info()["workers"])
    np.testing.assert_allclose(remote.cv_results_["split0_test_score"],
                               local.cv_results_["split0_test_score"], atol=1e-6)
    np.testing.assert_allclose(remote.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"], atol=1e-6)
    assert remote.best_params_ == local.best_params_
    # the refitted best model came back from a worker and transforms as the local one
    np.testing.assert_allclose(remote.best_estimator_[0].transform(S, session=s),
                               local.best_estimator_[0].transform(S, session=s), atol=1e-6)


def test_cross_validate_distillation_on_a_dask_cluster(client, data):
    S, F, y, s = data
    teacher = MaskedSpikeTransformer(decoder_width=8, **SMALL).fit(S, session=s)
    cv = SegmentSplit(segment_length=50, n_splits=2)
    with sklearn.config_context(enable_metadata_routing=True):
        student = DistilledLFPTransformer(FrozenEstimator(teacher), **SMALL)
        student.set_fit_request(teacher_X=True, session=True).set_transform_request(session=True)
        pipe = Pipeline([("student", student), ("ridge", Ridge())])
        params = {"teacher_X": S, "session": s, "groups": s}
        local = cross_validate(pipe, F, y, cv=cv, params=params, return_estimator=True)
        with distributed.get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
            remote = cross_validate(pipe, F, y, cv=cv, params=params, n_jobs=2,
                                    return_estimator=True)
    assert _workers_used(tasks)
    np.testing.assert_allclose(remote["test_score"], local["test_score"], atol=1e-6)
    # the frozen teacher travelled with every fold and came back unchanged
    for fitted in remote["estimator"]:
        np.testing.assert_allclose(fitted[0].teacher_.transform(S, session=s),
                                   teacher.transform(S, session=s), atol=1e-6)


@pytest.mark.parametrize("cls", [MaskedSpikeTransformer, LFPTransformer])
def test_fitted_estimators_pickle_to_workers(client, data, cls):
    S, F, _, s = data
    X = S if cls is MaskedSpikeTransformer else F
    est = cls(decoder_width=8, **SMALL).fit(X, session=s)
    future = client.submit(lambda model, rows, labels: model.transform(rows, session=labels),
                           est, X, s, pure=False)
    np.testing.assert_allclose(future.result(), est.transform(X, session=s), atol=1e-6)
    # an unfitted estimator fitted on a worker gives the locally fitted model
    remote = client.submit(lambda model, rows, labels: model.fit(rows, session=labels),
                           cls(decoder_width=8, **SMALL), X, s, pure=False).result()
    np.testing.assert_allclose(remote.transform(X, session=s), est.transform(X, session=s),
                               atol=1e-6)
