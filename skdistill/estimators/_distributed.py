"""Data-parallel training of one estimator over several processes (PyTorch DDP), on the engine.

:func:`fit_distributed` runs an ordinary ``estimator.fit(X, ...)`` in every process of a
``torch.distributed`` group; for the length of that fit, the estimator's engine is
:class:`DistributedEngineNet`, an :class:`~skdistill.estimators._base.EngineNet` that

* wraps the module in :class:`torch.nn.parallel.DistributedDataParallel` for the training
  forward (gradients are averaged across processes during ``backward``; the module itself, its
  state-dict keys and everything the estimator stores stay as in a one-process fit);
* gives each process its share of every global batch (:class:`GlobalBatchShardSampler`): the
  batches are drawn exactly as the one-process engine draws them (the same ``RandomSampler``
  on the same forked RNG), and process ``r`` takes the ``r``-th part of each, so
  ``batch_size`` stays the *global* batch and the optimisation matches a one-process fit;
* averages every recorded batch loss over the processes, so the history, early stopping and
  every callback see the global loss and all processes take the same decisions.

Nothing else changes: validation, the non-finite guard, callbacks, ``random_state`` (every
process forks the same RNG, so they start from identical weights; DDP also broadcasts process
0's) and ``save``/pickling of the fitted estimator, which is a plain one-process estimator again.

Launch either way:

* ``fit_distributed(est, X, ..., world_size=2)`` from an ordinary script starts the processes
  itself (``torch.multiprocessing``, "spawn"), gloo on CPU or NCCL with one GPU per process, and
  returns the fitted estimator of process 0;
* under ``torchrun`` / ``srun`` (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` set), every process
  calls ``fit_distributed(est, X, ...)`` (``world_size=None``) on its own copy of the data and
  gets the same fitted estimator back.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, RandomSampler

from skdistill.estimators._base import ENGINE_CLASS, EngineNet

__all__ = ["fit_distributed", "DistributedEngineNet", "GlobalBatchShardSampler"]


class GlobalBatchShardSampler(torch.utils.data.Sampler):
    """This process's part of each global batch, drawn as the one-process engine draws them.

    Every epoch, a ``RandomSampler`` over the dataset (drawing its seed from torch's global RNG,
    as a ``DataLoader(shuffle=True)`` does) orders the items; they are cut into global batches
    of ``batch_size`` and each batch into ``world_size`` near-equal parts
    (``np.array_split``); process ``rank`` yields its part of every batch. A last batch with
    fewer items than processes is dropped (every process must run the same number of steps).
    """

    def __init__(self, dataset, batch_size, world_size, rank, shuffle=True):
        self.n = len(dataset)
        self.batch_size = int(batch_size)
        self.world_size = int(world_size)
        self.rank = int(rank)
        self.shuffle = shuffle

    def _global_batches(self):
        order = list(RandomSampler(range(self.n))) if self.shuffle else list(range(self.n))
        for start in range(0, self.n, self.batch_size):
            batch = order[start : start + self.batch_size]
            if len(batch) >= self.world_size:
                yield batch

    def __iter__(self):
        for batch in self._global_batches():
            yield [int(i) for i in np.array_split(np.asarray(batch), self.world_size)[self.rank]]

    def __len__(self):
        full, rest = divmod(self.n, self.batch_size)
        return full + (1 if rest >= self.world_size else 0)


class DistributedEngineNet(EngineNet):
    """The engine for one process of a data-parallel fit (see the module docstring).

    Needs an initialised default process group (:func:`fit_distributed` makes it).
    """

    _ddp = None  # the DDP wrapper during fit_loop (not a skorch component: never saved)

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        from torch.nn.parallel import DistributedDataParallel

        device = torch.device(self.device) if self.device is not None else torch.device("cpu")
        ids = [device.index] if device.type == "cuda" and device.index is not None else None
        # find_unused_parameters: a batch may leave some sessions' tables unused; the buffers (rotary
        # frequencies) are constants, identical everywhere, so they are not synchronised
        tokenizer = getattr(self.module_, "tokenizer", None)
        several = getattr(tokenizer, "n_sessions", 2) > 1
        kwargs = dict(device_ids=ids, find_unused_parameters=several)
        try:
            ddp = DistributedDataParallel(self.module_, forward_sync_buffers=False, **kwargs)
        except TypeError:  # torch without forward_sync_buffers
            ddp = DistributedDataParallel(self.module_, broadcast_buffers=False, **kwargs)
        object.__setattr__(self, "_ddp", ddp)
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        finally:
            object.__setattr__(self, "_ddp", None)

    def infer(self, x, **fit_params):
        module = self._ddp
        if module is None or not self.module_.training or not torch.is_grad_enabled():
            return super().infer(x, **fit_params)
        from skorch.utils import to_tensor

        x = to_tensor(x, device=self.device)
        if isinstance(x, dict):
            return module(**self._merge_x_and_fit_params(x, fit_params))
        return module(x, **fit_params)

    def get_iterator(self, dataset, training=False):
        if not training:
            return super().get_iterator(dataset, training=False)
        sampler = GlobalBatchShardSampler(dataset, self.batch_size, dist.get_world_size(),
                                          dist.get_rank())
        return DataLoader(dataset, batch_sampler=sampler)

    @staticmethod
    def _mean_over_processes(step):
        loss = step["loss"].detach().clone()
        dist.all_reduce(loss)
        step["loss"] = loss / dist.get_world_size()
        return step

    def train_step(self, batch, **fit_params):
        return self._mean_over_processes(super().train_step(batch, **fit_params))

    def validation_step(self, batch, **fit_params):
        return self._mean_over_processes(super().validation_step(batch, **fit_params))


@contextlib.contextmanager
def _distributed_engine():
    token = ENGINE_CLASS.set(DistributedEngineNet)
    try:
        yield
    finally:
        ENGINE_CLASS.reset(token)


def _fit_here(estimator, X, y, fit_params, backend):
    """The fit of one process of an initialised group; returns the fitted estimator."""
    rank = dist.get_rank()
    if backend == "nccl":
        local = int(os.environ.get("LOCAL_RANK", rank % max(1, torch.cuda.device_count())))
        torch.cuda.set_device(local)
        estimator.set_params(device=f"cuda:{local}")
    with _distributed_engine():
        if y is None:
            estimator.fit(X, **fit_params)
        else:
            estimator.fit(X, y, **fit_params)
    estimator.net_.__class__ = EngineNet  # a plain one-process estimator from here on
    return estimator


def _worker(rank, world_size, backend, address, port, payload_path, result_path, threads):
    import joblib

    os.environ.update(MASTER_ADDR=address, MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
    if threads:
        torch.set_num_threads(threads)
    dist.init_process_group(backend, rank=rank, world_size=world_size)
    try:
        estimator, X, y, fit_params = joblib.load(payload_path)
        fitted = _fit_here(estimator, X, y, fit_params, backend)
        if rank == 0:
            joblib.dump(fitted, result_path)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _default_backend(estimator):
    device = str(estimator.get_params().get("device", "cpu") or "cpu")
    wants_gpu = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    return "nccl" if wants_gpu and dist.is_nccl_available() else "gloo"


def fit_distributed(estimator, X, y=None, *, world_size=2, backend=None, threads_per_process=None,
                    **fit_params):
    """Fit ``estimator`` with data-parallel training over ``world_size`` processes (DDP).

    Parameters
    ----------
    estimator : a skdistill torch estimator (unfitted; it is fitted in place only under torchrun)
        ``batch_size`` is the *global* batch: each process takes ``1 / world_size`` of every
        batch, and the optimisation follows a one-process fit with the same ``batch_size``.
    X, y, **fit_params
        What ``estimator.fit`` takes (``session=``, ``teacher_X=``, ...).
    world_size : int or None, default=2
        Processes to start here (gloo on CPU; NCCL with one GPU each, ``world_size`` at most the
        visible GPUs). ``None``: join the process group that ``torchrun`` / ``srun`` set up
        (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT`` in the environment); every
        process calls this function with its own data.
    backend : {"gloo", "nccl"}, optional
        Default: NCCL when the estimator's device is (or ``"auto"`` finds) a GPU, else gloo.
    threads_per_process : int, optional
        ``torch.set_num_threads`` in each started process (CPU: cores / world_size).

    Returns
    -------
    estimator
        The fitted estimator (of process 0; every process ends with the same weights). It is a
        plain estimator: ``transform``, ``save``, pickling and a later one-process ``fit`` work as
        after ``fit``.

    Examples
    --------
    >>> from skdistill import LFPTransformer
    >>> from skdistill.estimators import fit_distributed
    >>> est = fit_distributed(LFPTransformer(batch_size=64, random_state=0), L, session=s,
    ...                       world_size=2)  # doctest: +SKIP
    """
    if world_size is None:
        if not dist.is_initialized():
            if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
                raise ValueError(
                    "fit_distributed(world_size=None) joins a process group started by torchrun "
                    "or srun, but RANK / WORLD_SIZE are not set; run the script under torchrun, "
                    "or pass world_size=N to start N processes here.")
            backend = backend or _default_backend(estimator)
            dist.init_process_group(backend)
        backend = backend or dist.get_backend()
        return _fit_here(estimator, X, y, fit_params, backend)
    if not isinstance(world_size, (int, np.integer)) or isinstance(world_size, bool) \
            or world_size < 1:
        raise ValueError(f"world_size must be a positive int or None; got {world_size!r}.")
    backend = backend or _default_backend(estimator)
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo' or 'nccl'; got {backend!r}.")
    if backend == "nccl" and world_size > torch.cuda.device_count():
        raise ValueError(f"world_size={world_size} processes need as many GPUs for NCCL; "
                         f"{torch.cuda.device_count()} are visible.")
    batch_size = estimator.get_params().get("batch_size")
    if batch_size is not None and batch_size < world_size:
        raise ValueError(f"batch_size={batch_size} (the global batch) is smaller than "
                         f"world_size={world_size}: every process needs at least one window.")
    import joblib
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory(prefix="skdistill-ddp-") as tmp:
        payload, result = Path(tmp) / "payload.joblib", Path(tmp) / "fitted.joblib"
        joblib.dump((estimator, X, y, fit_params), payload)
        mp.start_processes(_worker, args=(world_size, backend, "127.0.0.1", _free_port(),
                                          str(payload), str(result), threads_per_process),
                           nprocs=world_size, join=True, start_method="spawn")
        return joblib.load(result)
