"""Rows split into chunks, run in-process or on a Dask cluster, gathered into one Attribution.

Every kernel explains rows independently, so a long run is cut into *row
chunks*: :func:`plan_chunks` picks the boundaries from the problem alone
(rows ``N``, model rows per explained row, input elements per row,
``batch_size``) — never from ``client`` — and :func:`run_chunks` runs the
kernel on each chunk, either here (one after the other) or as tasks on the
workers of a ``dask.distributed.Client``, then concatenates the results in
row order (:func:`concat`). Because both paths evaluate the same chunks,
every model batch is the same batch, and the results agree to rounding of
the float64 reductions (far below 1e-10).

Sampling must not depend on the chunking either. Kernels that draw random
numbers per row seed one generator per row from ``(seed, global row
index)`` (:func:`row_generator`, :func:`row_offset`), or share their draws
between all rows (kernel/permutation SHAP's coalitions).

With a client, the arguments shared by all chunks (model, background,
baselines, ...) are sent to the cluster once (one task holds them; workers
copy its result from each other); each chunk task carries only its rows. A worker that dies has its tasks rescheduled by Dask's
scheduler; results are taken once per task (``as_completed``), so the
progress bar counts each chunk once and nothing is lost or doubled.

Dask is an optional dependency (``pip install xai-widgets[dask]``); it is
imported only when a client is given or :func:`local_cluster` is called.

Example
-------
>>> import xai_widgets as xw                                      # doctest: +SKIP
>>> client = xw.local_cluster()                                   # doctest: +SKIP
>>> a = xw.kernel_shap(model, x, background, samples=512, client=client)   # doctest: +SKIP
"""
from __future__ import annotations

import contextvars
import os
import uuid
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from ..attribution import Attribution
from ._cancel import cancel_scope
from ._progress import progress

__all__ = [
    "CHUNK_ELEMENTS",
    "check_client",
    "concat",
    "local_cluster",
    "plan_chunks",
    "row_generator",
    "row_offset",
    "run_chunks",
]

#: Input elements one chunk pushes through the model (expanded rows × elements per row):
#: 2**26 floats is a few tenths of a second of a small MLP, so a 20,000-row
#: tabular kernel SHAP run splits into a few hundred chunks (even load over
#: workers, a fine progress bar) while the per-chunk cost (one probe, the
#: background pass, a task round trip) stays a small fraction.
CHUNK_ELEMENTS = 2**26

#: glibc malloc thresholds for :func:`local_cluster`'s worker processes (bytes): glibc's own
#: dynamic maxima on 64-bit Linux (see the comment in :func:`local_cluster`).
WORKER_MMAP_THRESHOLD = 32 * 2**20
WORKER_TRIM_THRESHOLD = 64 * 2**20

# The global index of the current chunk's first row, and whether a kernel is
# already running inside a chunk (then it must not split again).
_ROW0: contextvars.ContextVar[int] = contextvars.ContextVar("xw_row0", default=0)
_IN_CHUNK: contextvars.ContextVar[bool] = contextvars.ContextVar("xw_in_chunk", default=False)

_MASK = (1 << 64) - 1


# ------------------------------------------------------------------- rows
def row_offset() -> int:
    """Global index of row 0 of the rows a kernel is explaining now (0 outside a chunk)."""
    return _ROW0.get()


def _splitmix64(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def row_generator(seed: int, row: int) -> torch.Generator:
    """A CPU ``torch.Generator`` for global row ``row`` of a run seeded with ``seed``.

    Draws made for a row from its own generator are the same however the
    rows are chunked (and on whichever worker). Row 0 uses ``seed`` itself
    (a one-row run draws what a plain ``torch.Generator().manual_seed(seed)``
    draws, as the kernels did before rows had generators of their own);
    row ``r > 0`` a splitmix64 hash of ``(seed, r)``, so neighbouring rows
    get unrelated streams.

    Example
    -------
    >>> g = row_generator(0, 5)
    >>> bool(torch.equal(torch.rand(3, generator=g), torch.rand(3, generator=row_generator(0, 5))))
    True
    """
    gen = torch.Generator(device="cpu")
    if int(row) == 0:
        gen.manual_seed(int(seed))
    else:
        # >> 1: manual_seed takes values below 2**63 here
        gen.manual_seed(_splitmix64(_splitmix64(int(seed) & _MASK) ^ (int(row) & _MASK)) >> 1)
    return gen


def plan_chunks(n: int, *, per_row: int, row_elements: int = 1, batch_size: int | None = None) -> list[tuple[int, int]]:
    """Row chunk boundaries ``[(a, b), ...]`` for ``n`` rows: a function of the problem only.

    Parameters
    ----------
    n : int
        Rows explained.
    per_row : int
        Model rows evaluated per explained row (IG steps, SmoothGrad samples,
        coalitions × background rows, ...).
    row_elements : int
        Input elements per model row.
    batch_size : int, optional
        Model rows per pass; a chunk holds at least one full pass.

    Returns
    -------
    list of (start, stop)
        Near-equal consecutive chunks of at most ``CHUNK_ELEMENTS /
        (per_row × row_elements)`` rows (at least 1, at least
        ``batch_size / per_row``). Inside a chunk (a kernel called by
        :func:`run_chunks`) the whole batch is one chunk.

    Example
    -------
    >>> plan_chunks(10, per_row=2**25, row_elements=1)
    [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]
    """
    n = int(n)
    if n <= 0 or _IN_CHUNK.get():
        return [(0, max(n, 0))]
    work = max(1, int(per_row)) * max(1, int(row_elements))
    rows = max(1, CHUNK_ELEMENTS // work)
    if batch_size:
        rows = max(rows, -(-int(batch_size) // max(1, int(per_row))))
    count = -(-n // rows)
    # near-equal chunks (sizes differ by at most one row): no tiny last one
    return [(i * n // count, (i + 1) * n // count) for i in range(count)]


def elements(parts: Any) -> int:
    """Input elements per row of a tensor ``(N, ...)`` or a tuple of them (summed)."""
    if isinstance(parts, torch.Tensor):
        parts = (parts,)
    return int(sum(int(np.prod(tuple(p.shape[1:]), dtype=np.int64)) for p in parts))


def _is_frame(v: Any) -> bool:
    return hasattr(v, "iloc") and hasattr(v, "columns") and not isinstance(v, (np.ndarray, torch.Tensor))


def _is_block(v: Any) -> bool:
    return isinstance(v, (torch.Tensor, np.ndarray)) or _is_frame(v)


def take_rows(v: Any, a: int, b: int, n: int) -> Any:
    """Rows ``a:b`` of a per-row argument of ``n`` rows; anything without ``n`` rows passes through.

    Tensors, arrays and DataFrames with ``n`` rows (first axis) are sliced,
    tuples/lists of them element-wise, a list/tuple of ``n`` scalars (one
    target per row) sliced, and a dict (``forward_kwargs``) value by value
    — the rule the kernels use to tell batched model inputs from fixed ones.
    """
    if v is None or isinstance(v, (str, bytes)):
        return v
    if isinstance(v, (torch.Tensor, np.ndarray)):
        return v[a:b] if v.ndim >= 1 and v.shape[0] == n else v
    if _is_frame(v):
        return v.iloc[a:b] if len(v) == n else v
    if isinstance(v, dict):
        return {k: take_rows(x, a, b, n) for k, x in v.items()}
    if isinstance(v, (tuple, list)):
        if v and all(_is_block(e) for e in v):
            return type(v)(take_rows(e, a, b, n) for e in v)
        return type(v)(v[a:b]) if len(v) == n else v
    return v


# ----------------------------------------------------------------- client
def check_client(client: Any) -> Any:
    """``None``, or a live ``dask.distributed.Client`` (returned); anything else raises.

    A ``TypeError`` for another object (or when Dask is not installed), a
    ``ValueError`` for a client that is closed or not running — before any
    model call.
    """
    if client is None:
        return None
    try:
        from distributed import Client
    except ImportError as e:  # pragma: no cover - the dev extra installs it
        raise TypeError(
            f"client must be a dask.distributed.Client, got {type(client).__name__}; Dask is not installed "
            "(pip install 'xai-widgets[dask]')"
        ) from e
    if not isinstance(client, Client):
        raise TypeError(
            f"client must be a dask.distributed.Client (e.g. xw.local_cluster()), got {type(client).__name__}"
        )
    status = getattr(client, "status", None)
    if status != "running":
        raise ValueError(
            f"client is not connected (status {status!r}); pass a running dask.distributed.Client, "
            "e.g. xw.local_cluster(), not a closed one"
        )
    return client


def local_cluster(n_workers: int | None = None, *, threads_per_worker: int = 1, processes: bool = True,
                  **kwargs: Any) -> Any:
    """Start a ``dask.distributed.LocalCluster`` on this machine and return its ``Client``.

    Parameters
    ----------
    n_workers : int, optional
        Worker processes (default: the CPU cores this process may use).
    threads_per_worker : int
        Threads per worker (default 1): each chunk then runs its model on
        one core, and torch inside a worker uses one thread (Dask's nanny
        sets ``OMP_NUM_THREADS=1``), so workers do not oversubscribe cores.
    processes : bool
        Workers in separate processes (default; the GIL is not shared and a
        crashed worker is restarted) or threads of this process. Worker
        processes use glibc malloc thresholds of 32 MiB (mmap) and 64 MiB
        (trim) instead of Dask's 64 KiB trim threshold, under which every
        model pass page-faults its activations in again (about 2x slower
        kernel SHAP). On a cluster you start yourself, set the same through
        Dask's ``distributed.nanny.pre-spawn-environ`` config.
    **kwargs
        Passed to ``LocalCluster`` (``memory_limit=``, ``dashboard_address=``
        — default ``":0"``, any free port).

    Returns
    -------
    dask.distributed.Client
        Pass it as ``client=`` to any Shapley or gradient kernel; close it
        (``client.close(); client.cluster.close()``) or use it as a context
        manager.

    Example
    -------
    >>> client = xw.local_cluster(2)                                      # doctest: +SKIP
    >>> a = xw.kernel_shap(model, x, bg, samples=512, client=client)      # doctest: +SKIP
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as e:
        raise ImportError("xw.local_cluster needs Dask: pip install 'xai-widgets[dask]'") from e
    if n_workers is None:
        try:
            n_workers = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            n_workers = os.cpu_count() or 1
    if isinstance(n_workers, bool) or not isinstance(n_workers, (int, np.integer)) or n_workers < 1:
        raise ValueError(f"n_workers must be a positive int or None, got {n_workers!r}")
    if isinstance(threads_per_worker, bool) or not isinstance(threads_per_worker, (int, np.integer)) or threads_per_worker < 1:
        raise ValueError(f"threads_per_worker must be a positive int, got {threads_per_worker!r}")
    kwargs.setdefault("dashboard_address", ":0")
    import dask

    # Dask starts worker processes with MALLOC_TRIM_THRESHOLD_=64 KiB (to hand memory back to the OS
    # quickly). Setting it also freezes glibc's mmap threshold at 128 KiB, so every activation tensor
    # of a model pass is a fresh mmap whose pages fault in again: kernel SHAP ran ~2x slower in a
    # worker than in this process (284,000 page faults per chunk instead of ~0). Workers get glibc's
    # own upper bounds instead (allocations up to 32 MiB reuse the heap; at most 64 MiB of free heap
    # is kept), so memory stays bounded and the passes stop faulting.
    env = {"MALLOC_MMAP_THRESHOLD_": str(WORKER_MMAP_THRESHOLD), "MALLOC_TRIM_THRESHOLD_": str(WORKER_TRIM_THRESHOLD)}
    with dask.config.set({f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in env.items()}):
        cluster = LocalCluster(n_workers=int(n_workers), threads_per_worker=int(threads_per_worker),
                               processes=bool(processes), **kwargs)
    return Client(cluster)


# ----------------------------------------------------------------- running
@contextmanager
def _chunk_context(row0: int) -> Iterator[None]:
    """Inside a chunk: rows are numbered from ``row0``, no further split, no inner progress bars
    (the chunk bar stands for them; cancellation of any outer scope still reaches the kernel)."""
    t1, t2 = _ROW0.set(int(row0)), _IN_CHUNK.set(True)
    try:
        with cancel_scope(quiet=True):
            yield
    finally:
        _IN_CHUNK.reset(t2)
        _ROW0.reset(t1)


class _Box:
    """An opaque holder: Dask does not look inside it for tasks (a tuple starting with a function
    would otherwise be run as one)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _unbox(box: _Box) -> _Box:
    """The task that holds the shared arguments on the workers (see :func:`run_chunks`)."""
    return box


def _run_chunk(call: Callable[..., Any], shared: Any, rows: Any, row0: int) -> Any:
    """One chunk, on a worker or here: ``call(**shared, **rows)`` with rows numbered from ``row0``."""
    if isinstance(shared, _Box):
        shared, rows = shared.value, rows.value
    with _chunk_context(row0):
        return call(**shared, **rows)


def run_chunks(
    call: Callable[..., Any],
    args: dict,
    *,
    row_args: Sequence[str],
    n: int,
    chunks: list[tuple[int, int]],
    client: Any = None,
    desc: str = "chunks",
) -> Attribution | tuple:
    """Run the kernel ``call`` on each row chunk and concatenate the results in row order.

    Parameters
    ----------
    call : callable
        The public kernel (a module-level function, so workers import it).
    args : dict
        Its keyword arguments for the whole batch (without ``client``).
    row_args : sequence of str
        Names in ``args`` holding per-row data (sliced with :func:`take_rows`).
    n : int
        Rows.
    chunks : list of (start, stop)
        From :func:`plan_chunks`.
    client : dask.distributed.Client, optional
        Run the chunks as tasks on its workers (shared arguments scattered
        once); ``None``: here, one after the other.
    desc : str
        Progress bar label (one step per finished chunk).

    Returns
    -------
    Attribution or tuple of Attribution
        As ``call`` returns for the whole batch; ``params["chunks"]`` the
        number of chunks.
    """
    shared = {k: v for k, v in args.items() if k not in row_args}
    per_chunk = [{k: take_rows(args[k], a, b, n) for k in row_args} for a, b in chunks]
    results: list[Any] = [None] * len(chunks)
    with progress(total=len(chunks), desc=desc, unit="chunk", disable=len(chunks) <= 1) as bar:
        if client is None:
            for i, ((a, _), rows) in enumerate(zip(chunks, per_chunk)):
                results[i] = _run_chunk(call, shared, rows, a)
                bar.update(1)
        else:
            from distributed import as_completed

            # Everything the chunks share (model, background, ...) goes to the cluster once, as one
            # object (one pickle: a layer= submodule stays the model's own submodule), held by one
            # task that workers fetch from each other. A task rather than client.scatter: scattered
            # data has no lineage, so a worker dying with the only copy would lose it; the scheduler
            # recomputes a task's result instead.
            tag = uuid.uuid4().hex[:12]
            shared_f = client.submit(_unbox, _Box(shared), key=f"xw-{desc}-{tag}-shared", pure=False)
            # a copy on every worker before the chunks are submitted: the scheduler places a task
            # next to its data, so with one copy every chunk would queue on that one worker
            client.replicate([shared_f])
            futures = [
                client.submit(_run_chunk, call, shared_f, _Box(rows), a, key=f"xw-{desc}-{tag}-{i}", pure=False)
                for i, ((a, _), rows) in enumerate(zip(chunks, per_chunk))
            ]
            index = {f.key: i for i, f in enumerate(futures)}
            try:
                # each task completes once (a task rescheduled after its worker died included):
                # one bar step per chunk, results placed by chunk index
                for fut in as_completed(futures):
                    results[index[fut.key]] = fut.result()
                    bar.update(1)
            finally:
                client.cancel(futures + [shared_f])
    out = concat(results, [b - a for a, b in chunks])
    for a in (out if isinstance(out, tuple) else (out,)):
        a.params["chunks"] = len(chunks)
    return out


# ----------------------------------------------------------------- gather
_ROW_FIELDS = ("values", "data", "outputs", "base_values", "delta", "group_values")


def _cat(parts: list[Any], sizes: list[int]) -> Any:
    first = parts[0]
    if first is None:
        return None
    if all(isinstance(p, np.ndarray) and p.ndim >= 1 and p.shape[0] == s for p, s in zip(parts, sizes)):
        return np.concatenate(parts, axis=0)
    return first  # shared by every row (a scalar base value, target="all"'s class list, ...)


def concat(results: list[Any], sizes: list[int]) -> Attribution | tuple:
    """Row chunks' results (Attributions, or tuples of them) → one, rows in order.

    Per-row fields (``values``, ``data``, ``target``, ``outputs``,
    ``base_values``, ``delta``, ``group_values`` and per-row arrays in
    ``params`` such as Grad-CAM's ``raw``) are concatenated; the rest is the
    first chunk's.
    """
    if len(results) == 1:
        return results[0]
    if isinstance(results[0], tuple):
        return tuple(concat([r[j] for r in results], sizes) for j in range(len(results[0])))
    first: Attribution = results[0]
    fields = {f: _cat([getattr(r, f) for r in results], sizes) for f in _ROW_FIELDS}
    if first.params.get("target") == "all":
        fields["target"] = first.target
    else:
        fields["target"] = _cat([r.target for r in results], sizes)
    params = dict(first.params)
    for k, v in first.params.items():
        if isinstance(v, np.ndarray):
            params[k] = _cat([r.params[k] for r in results], sizes)
    return Attribution(
        method=first.method, params=params, feature_names=first.feature_names, output_names=first.output_names,
        **fields,
    )
