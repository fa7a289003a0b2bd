"""NeuralNet's cross-validation and searches on a real Dask cluster (worker
processes on the loopback) give the results they give on joblib's loky, and
a worker that dies mid-search is survived or reported, never waited for."""
import os
import signal
import threading

import joblib
import numpy as np
import pytest
from sklearn.model_selection import RandomizedSearchCV, cross_val_score

from .conftest import make_blobs, mlp

distributed = pytest.importorskip("distributed")
import dask  # noqa: E402  (installed with distributed)

SEARCH = dict(param_distributions={"hidden_num_units": [4, 8, 16], "update_learning_rate": [0.02, 0.05, 0.1]},
              n_iter=3, cv=2, random_state=0)
DEADLINE = 120  # seconds a run on the cluster may take before the test calls it a hang


def net(**settings):
    return mlp(n_hidden=8, max_epochs=3, train_split=None, random_state=0, **settings)


class KillWorker:
    """An epoch handler that kills the process it runs in (a Dask worker) with
    SIGKILL, as a crash would: the first time only when given a marker file
    (which it then creates), else every time."""

    def __init__(self, marker=None):
        self.marker = marker

    def __call__(self, net, history):
        if self.marker is not None:
            try:
                open(self.marker, "x").close()
            except FileExistsError:
                return
        os.kill(os.getpid(), signal.SIGKILL)


def within_deadline(run):
    """``run()``'s result, or its exception; fails the test if it is still running after DEADLINE seconds."""
    outcome = {}

    def target():
        try:
            outcome["result"] = run()
        except BaseException as e:  # noqa: BLE001  (handed to the test)
            outcome["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(DEADLINE)
    assert not thread.is_alive(), f"still running after {DEADLINE} s: a hang"
    return outcome


@pytest.fixture(scope="module")
def data():
    return make_blobs(n=120)


@pytest.fixture(scope="module")
def client():
    # One retry: a task whose worker dies is run again once, a second death is an error.
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                     dashboard_address=None) as cluster, \
            distributed.Client(cluster, timeout=60) as client:
        yield client


def on_dask(client, run, data):
    """``run()`` under joblib's Dask backend with ``data`` scattered to every
    worker (as :func:`within_deadline` gives it), and the number of tasks the
    cluster ran."""

    def run_on_dask():
        # In the thread that runs: joblib's backend is per thread.
        with joblib.parallel_backend("dask", scatter=list(data)):
            return run()

    with distributed.get_task_stream(client) as tasks:
        outcome = within_deadline(run_on_dask)
    return outcome, len(tasks.data)


def search_results(search):
    return search.cv_results_["params"], search.cv_results_["mean_test_score"].tolist(), search.best_params_


@pytest.fixture(scope="module")
def search_on_loky(data):
    return search_results(RandomizedSearchCV(net(), n_jobs=2, **SEARCH).fit(*data))


def test_cross_val_score_on_dask_equals_loky(client, data):
    on_loky = cross_val_score(net(), *data, cv=3, n_jobs=2)
    outcome, n_tasks = on_dask(client, lambda: cross_val_score(net(), *data, cv=3), data)
    np.testing.assert_array_equal(outcome["result"], on_loky)
    assert n_tasks >= 3  # the folds ran on the cluster
    assert 0.5 < on_loky.mean() <= 1  # and learned something (chance is 1/3)


def test_randomized_search_on_dask_equals_loky(client, data, search_on_loky):
    outcome, n_tasks = on_dask(client, lambda: RandomizedSearchCV(net(), **SEARCH).fit(*data), data)
    assert search_results(outcome["result"]) == search_on_loky
    assert n_tasks >= 6  # 3 candidates x 2 folds


def test_seeded_ensemble_on_dask_equals_loky(client, data):
    from convnet.ensemble import seeded_ensemble

    X, y = data
    on_loky = seeded_ensemble(net(), n_members=3, n_jobs=2).fit(X, y)
    outcome, n_tasks = on_dask(client, lambda: seeded_ensemble(net(), n_members=3).fit(X, y), data)
    np.testing.assert_array_equal(outcome["result"].predict_proba(X), on_loky.predict_proba(X))
    assert n_tasks >= 3


def test_search_survives_a_worker_killed_mid_search(client, data, search_on_loky, tmp_path):
    marker = tmp_path / "killed"
    pids = set(client.run(os.getpid).values())
    killer = net(on_epoch_finished=[KillWorker(marker)])
    outcome, _ = on_dask(client, lambda: RandomizedSearchCV(killer, **SEARCH).fit(*data), data)
    assert "error" not in outcome, outcome.get("error")
    assert marker.exists()  # a worker did die,
    client.wait_for_workers(2, timeout=60)
    assert set(client.run(os.getpid).values()) != pids  # was replaced,
    # and its task was run again elsewhere: the data scattered to every worker outlived it
    assert search_results(outcome["result"]) == search_on_loky


def test_task_that_keeps_killing_its_workers_ends_in_a_clear_error(client):
    # Data this small travels with the task (joblib scatters arrays over 1 kB),
    # so no worker's death loses it; the one task dies on two workers.
    X, y = make_blobs(n=30)
    killer = net(on_epoch_finished=[KillWorker()])
    outcome, _ = on_dask(client, lambda: cross_val_score(killer, X, y, cv=[(np.arange(20), np.arange(20, 30))]), ())
    error = outcome.get("error")
    assert isinstance(error, distributed.KilledWorker), outcome
    assert "on 2 different workers, but all those workers died while running it" in str(error)
