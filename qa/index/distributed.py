"""The distributed build: unit texts embedded by model workers of a Ray cluster, with Ray Data.

`RayEmbedder` is an `Embedder` (qa/index/embed.py) wrapping a picklable factory of the real one, so
`VectorCache.embed` and `build_index` run unchanged: they hand it the texts to embed, it sends them to
`workers` model actors (`map_batches` with a callable class) and returns the rows in the caller's order.

Same vectors as one process, bit for bit: an encoder batches its texts (ONNX: by length, 32 a batch, each
padded to its longest text), and padding changes the matrix shapes and so, in the last bits, the sums.
So the batches are not Ray's: `batch_plan` asks the local embedder which batches its own `encode` would
run, every batch travels whole as one row of the dataset, and a worker encodes it with one `encode` call.
Rows come back tagged with their batch number and are put in place by index (`tests/test_distributed.py`
checks equality with `np.array_equal`).

`RayCluster` is where the workers run: a local cluster of `workers` CPUs, started on first use (so an
index that is up to date starts nothing) and stopped by `close()`, or an existing cluster at `address`.
Ray is imported only inside this module's functions: `import ray` takes about half a second.
"""

from __future__ import annotations

import logging
import os
import socket
import warnings
from collections.abc import Callable
from qa.paths import ROOT

import numpy as np

from qa.errors import ClusterUnavailable, QAError
from qa.index.embed import Embedder, contiguous_batches

log = logging.getLogger(__name__)

BATCHES_PER_CALL = 4  # planned batches a worker encodes per Ray call at most: fewer round trips, smooth bar
LOCAL_CPUS_PER_WORKER = 0.5  # fractional: a pool asking whole CPUs plus Ray Data's own task can stall for ever


def batch_plan(embedder: Embedder, texts: list[str]) -> list[list[int]]:
    """The batches `embedder.encode(texts)` runs itself, or runs of 32 for one whose rows do not depend
    on their batch (it has no `batch_plan`)."""
    plan = getattr(embedder, "batch_plan", None)
    return plan(texts) if plan else contiguous_batches(len(texts), getattr(embedder, "batch_size", 32))


def _start_local(ray, attempts: int = 2, **init) -> None:
    """`ray.init` for a local cluster, tried again once when Ray's node does not come up in its fixed 30 s
    (Ray raises a bare Exception then; seen once in a CI run, on an otherwise idle machine)."""
    for attempt in range(1, attempts + 1):
        try:
            ray.init(**init)
            return
        except Exception as e:
            if "timed out during startup" not in str(e):
                raise
            ray.shutdown()
            if attempt == attempts:
                raise ClusterUnavailable(f"a local Ray cluster did not start: {str(e).splitlines()[0]}") from None
            log.warning("Ray's node did not start in 30 s; starting it once more")


def _import_ray():
    try:
        import ray
        import ray.data
    except ImportError as e:
        raise ClusterUnavailable("the distributed build needs Ray, which is not installed "
                                 "(pip install 'ray[data]==2.60.0')") from e
    return ray


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds, not minutes (Ray retries an unreachable address for a long time), when nothing
    answers at HOST:PORT. `auto` and addresses without a port are left to Ray."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise ClusterUnavailable(f"cannot reach a Ray cluster at {address} "
                                 f"({e.strerror or e.__class__.__name__})") from None


def _quiet_data(ray):
    """Ray Data without its own progress bars and start-up notes: ours is the one bar (RayEmbedder.encode)."""
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # also its note that the bars are off
    return ray


class RayCluster:
    """A local Ray cluster of `workers` CPUs (started on first use), or the existing one at `address`."""

    def __init__(self, workers: int, address: str | None = None):
        if workers < 1:
            raise ClusterUnavailable("the distributed build needs at least one worker")
        self.workers = workers
        self.address = address
        self._started = False

    @property
    def local(self) -> bool:
        return not self.address

    @property
    def cpus_per_worker(self) -> float:
        """Ray CPUs each model actor asks for: a fraction on the local cluster (see LOCAL_CPUS_PER_WORKER),
        one on an existing cluster, so Ray spreads the actors over its nodes."""
        return LOCAL_CPUS_PER_WORKER if self.local else 1.0

    @property
    def threads_per_worker(self) -> int | None:
        """Model threads per actor: the local cores shared out; on a cluster, the libraries' defaults."""
        return max(1, (os.cpu_count() or 1) // self.workers) if self.local else None

    def connect(self):
        """The `ray` module, connected (once) to this cluster."""
        ray = _import_ray()
        if self.address:
            _check_reachable(self.address)
        if ray.is_initialized():  # already connected (by this object, or by the caller, as the tests do)
            return _quiet_data(ray)
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local cluster's token warning
        quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
        try:
            if self.local:
                env = {"OMP_NUM_THREADS": str(self.threads_per_worker)}  # `qa` itself: the editable install
                _start_local(ray, num_cpus=self.workers, runtime_env={"env_vars": env}, **quiet)
            else:
                import qa

                # the driver's qa code travels with the job; the model packages must be installed on the nodes
                ray.init(address=self.address, runtime_env={"py_modules": [qa]}, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray cluster"
            raise ClusterUnavailable(f"cannot start or join {where}: {str(e).splitlines()[0]}") from None
        self._started = True
        return _quiet_data(ray)

    def close(self) -> None:
        """Shut Ray down if this object started or joined it."""
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def __enter__(self) -> RayCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _EncodeBatches:
    """The model actor: one embedder, loaded once; every row of a call is one planned batch.

    A failure comes back as the row's `error` ("ClassName: message") rather than as an exception: Ray
    hands the driver only the text of a worker's traceback, and this keeps the domain error's class."""

    def __init__(self, factory: Callable[[], Embedder]):
        self.embedder = self.error = None
        try:
            self.embedder = factory()
        except Exception as e:  # reported with the first batch, in plain words
            self.error = f"{e.__class__.__name__}: {e}"

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors, errors = [], []
        for texts in batch["texts"]:
            vec, error = b"", self.error
            if error is None:
                try:
                    vec = np.ascontiguousarray(self.embedder.encode([str(t) for t in texts]), dtype=np.float32)
                    vec = vec.tobytes()  # raw bytes: the floats travel unchanged
                except Exception as e:  # any failure of the model: the driver raises it (see _raise_worker_error)
                    log.exception("encoding a batch failed")
                    error = f"{e.__class__.__name__}: {e}"
            vectors.append(vec)
            errors.append(error or "")
        return {"batch": batch["batch"], "vectors": np.array(vectors, dtype=object),
                "error": np.array(errors, dtype=object)}


class RayEmbedder:
    """An `Embedder` whose `encode` runs on the model actors of a `RayCluster`.

    `factory` builds the real embedder (a class, or a `functools.partial` of a module-level function):
    once here, for `model_id`, `dim`, the batch plan and questions (not loaded unless used), and once in
    each actor. Rows come back in the caller's order, identical to `factory().encode(texts)`."""

    def __init__(self, factory: Callable[[], Embedder], cluster: RayCluster, *, desc: str | None = None):
        self.factory = factory
        self.cluster = cluster
        self.local = factory()
        self.model_id = self.local.model_id
        self.max_words = self.local.max_words
        self.desc = desc or f"Embedding on Ray ({cluster.workers} workers)"
        self.timings: dict[str, float] = {}  # of the last encode: seconds to the first batch back (actors and
        # models started: `first_units` done), and to the end (`total_s`); read by `qa bench --distributed`

    @property
    def dim(self) -> int:
        return self.local.dim

    def encode(self, texts: list[str], *, query: bool = False, progress: bool = False) -> np.ndarray:
        if query or not texts:  # a question is one short text: not worth a round trip
            return self.local.encode(texts, query=query, progress=progress)
        plan = batch_plan(self.local, texts)
        ray = self.cluster.connect()
        items = [{"batch": b, "texts": [texts[i] for i in rows]} for b, rows in enumerate(plan)]
        # Fewer batches a call when there are few (every worker gets some), and a block per call: Ray would
        # otherwise pack a small input into one block, which one worker takes.
        per_call = max(1, min(BATCHES_PER_CALL, len(items) // (4 * self.cluster.workers)))
        ds = ray.data.from_items(items, override_num_blocks=-(-len(items) // per_call)).map_batches(
            _EncodeBatches, fn_constructor_kwargs={"factory": self.factory}, batch_size=per_call,
            compute=ray.data.ActorPoolStrategy(size=self.cluster.workers), num_cpus=self.cluster.cpus_per_worker)
        with warnings.catch_warnings():  # Ray's note that fewer batches than workers leave some idle
            warnings.filterwarnings("ignore", message="The minimum number of concurrent actors")
            return self._collect(ray, ds, plan, len(texts), progress)

    def _collect(self, ray, ds, plan: list[list[int]], n: int, progress: bool) -> np.ndarray:
        """Each batch's rows put back where they came from, as the actors finish them."""
        import time

        from tqdm import tqdm

        t0, first = time.perf_counter(), None
        dim = self.dim
        out = np.empty((n, dim), np.float32)
        done = np.zeros(len(plan), bool)
        try:
            with tqdm(total=len(plan), desc=self.desc, unit="batch", disable=not progress) as bar:
                for row in ds.iter_rows():
                    if row["error"]:
                        _raise_worker_error(row["error"])
                    b = int(row["batch"])
                    out[plan[b]] = np.frombuffer(row["vectors"], np.float32).reshape(len(plan[b]), dim)
                    done[b] = True
                    bar.update(1)
                    first = first or (time.perf_counter() - t0, len(plan[b]))
        except ray.exceptions.RayError as e:  # Ray's own failures: a worker lost, the cluster gone
            last = str(e).strip().splitlines()[-1] if str(e).strip() else e.__class__.__name__
            raise ClusterUnavailable(f"the Ray cluster failed during the build: {last}") from None
        if not done.all():
            raise ClusterUnavailable(f"{int((~done).sum())} of {len(plan)} batches came back from no worker")
        self.timings = {"first_s": first[0], "first_units": first[1], "total_s": time.perf_counter() - t0}
        return out


def _raise_worker_error(error: str) -> None:
    """A worker's "ClassName: message" raised here: the same domain error (ModelUnavailable, …) when it
    was one, else ClusterUnavailable naming the failure."""
    import qa.errors

    name, _, message = error.partition(": ")
    cls = getattr(qa.errors, name, None)
    if isinstance(cls, type) and issubclass(cls, QAError):
        raise cls(message)
    raise ClusterUnavailable(f"a model worker failed: {error}")


def ray_embedders(model: str | None, cross_lingual: bool, cluster: RayCluster) -> tuple[RayEmbedder, RayEmbedder | None]:
    """The CLI's two embedders (qa/cli.py `embedders`) with their encoding done on `cluster`."""
    from functools import partial

    from qa.index.embed import CrossLingualEmbedder
    from qa.index.onnx_encoder import default_embedder

    # ONNX Runtime gives the same bits on 1 or 2 threads, so the local cores are shared out; USE does not
    # (1 and 2 threads differ by ~1e-7), so it keeps the 2 threads it has in one process. e5 reads
    # OMP_NUM_THREADS (set per worker by RayCluster) and gives the same bits either way.
    main = RayEmbedder(partial(default_embedder, model, threads=cluster.threads_per_worker), cluster)
    xling = None
    if cross_lingual:
        xling = RayEmbedder(CrossLingualEmbedder, cluster, desc=f"Cross-lingual vectors on Ray ({cluster.workers} workers)")
    return main, xling
