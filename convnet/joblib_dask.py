"""A fix for joblib's Dask backend: a task that fails in Dask itself ends
the ``Parallel`` call with its error instead of leaving it waiting forever.

joblib's ``DaskDistributedBackend`` (joblib 1.6) collects finished tasks in
``_collect``. For a task whose future ends in error (a
:class:`distributed.KilledWorker` once the task's workers died more often
than ``distributed.scheduler.allowed-failures`` allows, or a cancellation
when the scattered data it needs is lost) it sets the error on the task's
``concurrent.futures.Future`` but never calls the batch's completion
callback, the only place a ``Parallel`` call with this backend learns of a
task's outcome: ``cross_val_score``, ``GridSearchCV``, ``RandomizedSearchCV``
or an ensemble's ``fit`` then wait forever. (Errors raised by the task's own
code do not take this path: joblib wraps them and they arrive as results.)

Here the callback is called with the error too; joblib's callback raises
it, registers the batch as failed, and the ``Parallel`` call raises it.
convnet applies this when joblib loads its Dask backend
(:func:`convnet.backends.when_imported`), so
``joblib.parallel_backend("dask")`` needs nothing more; only to a
``_collect`` that uses the attributes this one uses (a later joblib that
reorganizes it is left as it is).
"""
import asyncio

from joblib._dask import DaskDistributedBackend

__all__ = ["collect_reporting_errors"]


async def collect_reporting_errors(self):
    """``DaskDistributedBackend._collect``, reporting failed futures to their callbacks."""
    while self._continue:
        async for future, result in self.waiting_futures:
            cf_future = self._results.pop(future)
            callback = self._callbacks.pop(future)
            if future.status == "error":
                _, error, _ = result
                cf_future.set_exception(error)
                callback(error)  # joblib's callback raises it, and the Parallel call with it
            else:
                cf_future.set_result(result)
                callback(result)
        await asyncio.sleep(0.01)


_USED = {"_continue", "waiting_futures", "_results", "_callbacks"}
if _USED <= set(DaskDistributedBackend._collect.__code__.co_names):
    DaskDistributedBackend._collect = collect_reporting_errors
