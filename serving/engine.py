"""The models behind the endpoint: who answers (routing), scoring in batches, and following the
registry so that a moved alias swaps the model without a failed request.

A :class:`Scorer` holds one role's model (``champion`` or ``challenger``). Requests that arrive
while it is scoring wait together and are scored in one call of the Pipeline (up to
``serve.max_batch_rows`` rows): scikit-learn's cost per call is mostly fixed (~9 ms for one row
and ~11 ms for a hundred here), so under load this multiplies throughput, and with no load a
request is scored at once, alone. The model a batch uses is read once when the batch starts; a
swap replaces that reference between batches, so every request is answered by exactly one
version, old or new, and the response names it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.protocol import Parsed, frame_of
from tasks.types import CHALLENGER, CHAMPION, ServedModel

if TYPE_CHECKING:
    from tasks.steps.labels import LabelRule

logger = logging.getLogger("mlops.serving")


class NoModel(RuntimeError):
    """No version is loaded for the role asked (no champion registered yet)."""


class Busy(RuntimeError):
    """Too many rows wait to be scored (``serve.max_pending_rows``): answer 503, retry later."""


@dataclass(frozen=True)
class Scored:
    """One request's answer and the version that gave it."""

    served: ServedModel
    predictions: list[Any]
    probabilities: list[list[float]] | None


def platform_of(served: ServedModel) -> str:
    """What runs ``served``, named as the open inference protocol names platforms
    (``<framework>_<format>``, Triton's names): its compiled graph in ONNX Runtime, or the
    scikit-learn Pipeline loaded from its skops file."""
    return "onnxruntime_onnx" if served.compiled is not None else "sklearn_skops"


SKLEARN_SETTING = "serve.runtime is sklearn"


def with_runtime(
    served: ServedModel, runtime: str, threads: int, graph: Callable[[], bytes | None]
) -> ServedModel:
    """``served`` with the runtime that will score it, by ``serve.runtime``: ``auto``, its
    compiled graph (``graph()``: the registry's checked copy) when its parity passed at
    registration (tag ``runtime.onnx`` = ok), else scikit-learn with the reason; ``onnx``, the
    graph or :class:`~tasks.adapters.registry.ModelRefused`; ``sklearn``, the Pipeline.
    A graph whose file changed since registration is refused whatever the setting."""
    from dataclasses import replace

    from tasks.adapters.registry import ModelRefused
    from tasks.steps.compile import RUNTIME_TAG
    from tasks.steps.compiled import load

    if runtime == "sklearn":
        return replace(served, runtime="sklearn", runtime_reason=SKLEARN_SETTING, compiled=None)
    what = f"{served.model_name} v{served.version}"
    outcome = served.tags.get(RUNTIME_TAG)
    reason = ""
    if outcome is None:
        reason = f"not compiled at registration (no {RUNTIME_TAG} tag)"
    elif outcome != "ok":
        why = served.tags.get(f"{RUNTIME_TAG}.reason", "no reason recorded")
        reason = f"no compiled graph ({RUNTIME_TAG}={outcome}: {why})"
    else:
        data = graph()
        if data is None:
            reason = "no compiled graph in the registry"
        else:
            try:
                compiled = load(data, threads)
            except Exception as error:  # an ONNX Runtime that refuses the graph
                shown = " ".join(f"{type(error).__name__}: {error}".split())[:300]
                reason = f"ONNX Runtime cannot load its graph ({shown})"
            else:
                known = {column.name for column in served.columns}
                unknown = [name for name in compiled.inputs if name not in known]
                if not unknown:
                    return replace(served, runtime="onnx", runtime_reason="", compiled=compiled)
                reason = f"the graph's inputs {unknown[:5]} are not columns of its signature"
    if runtime == "onnx":
        raise ModelRefused(f"{what}: serve.runtime is onnx and its graph cannot serve: {reason}")
    return replace(served, runtime="sklearn", runtime_reason=reason, compiled=None)


def columns_of(batch: Sequence[Parsed], names: Sequence[str]) -> Mapping[str, Sequence[Any]]:
    """The values of ``names`` over every row of ``batch``, one list per column (no copy for a
    batch of one request)."""
    if len(batch) == 1:
        return batch[0].columns
    return {name: [v for parsed in batch for v in parsed.columns[name]] for name in names}


def predict(served: ServedModel, batch: Sequence[Parsed]) -> tuple[list[Any], Any]:
    """Every row of ``batch`` scored in one call, by the rule batch runs use too: with the
    compiled graph straight from the parsed columns (no DataFrame), else the Pipeline."""
    from tasks.steps.predict import score_columns, score_frame

    if served.compiled is not None:
        return score_columns(served, columns_of(batch, served.compiled.inputs))
    return score_frame(served, frame_of(batch, served.columns))


Answer = tuple[list[Any], list[list[float]] | None]


def predict_each(
    served: ServedModel, batch: Sequence[Parsed], calls: list[int]
) -> list[Answer | Exception]:
    """Each request's answer, or the exception the model raised on it: the batch in one call;
    when that call raises, each half on its own (down to one request), so a request that makes
    the model fail fails alone and its batch-mates get their answers (one bad request among n
    costs about 2 log2(n) more calls). ``calls`` gets the rows of each call that answered."""
    try:
        labels, proba = predict(served, batch)
    except Exception as error:
        if len(batch) == 1:
            return [error]
        middle = len(batch) // 2
        return predict_each(served, batch[:middle], calls) + predict_each(
            served, batch[middle:], calls
        )
    calls.append(sum(parsed.rows for parsed in batch))
    answers: list[Answer | Exception] = []
    offset = 0
    for parsed in batch:
        end = offset + parsed.rows
        chances = None if proba is None else proba[offset:end].tolist()
        answers.append((list(labels[offset:end]), chances))
        offset = end
    return answers


def _one_openmp_thread() -> None:
    """Score on one OpenMP thread (this thread only: OpenMP's thread count is per thread).

    A batch of a few rows gains nothing from parallel trees, and OpenMP's workers spin while
    they wait: measured, with one other busy process on this 2-core machine, one row took up
    to 2.4 s and the endpoint fell to 1-2 requests/s; with one thread, 34-57.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="openmp")


class Scorer:
    """Scores requests for one role, batching those that wait."""

    def __init__(self, role: str, max_batch_rows: int, max_pending_rows: int | None = None) -> None:
        self.role = role
        self.max_batch_rows = max_batch_rows
        self.max_pending_rows = max_pending_rows
        self.served: ServedModel | None = None
        self.loaded_at: str | None = None
        self._pending: deque[tuple[Parsed, asyncio.Future[Scored]]] = deque()
        self.pending_rows = 0  # rows of the requests in ``_pending``
        self._drainer: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(
            1, thread_name_prefix=f"score-{role}", initializer=_one_openmp_thread
        )
        self.on_batch: Callable[[int], None] | None = None  # rows of each call

    def install(self, served: ServedModel | None) -> None:
        """Swap the model: one reference assignment, read once per batch."""
        self.served = served
        self.loaded_at = datetime.now(UTC).isoformat(timespec="seconds") if served else None

    async def score(self, parsed: Parsed) -> Scored:
        if self.served is None:
            raise NoModel(f"no {self.role} model is loaded")
        limit = self.max_pending_rows
        if limit is not None and self.pending_rows + parsed.rows > limit:
            raise Busy(
                f"{self.pending_rows} rows wait to be scored; {parsed.rows} more would pass the "
                f"limit of {limit} (serve.max_pending_rows): retry later"
            )
        future: asyncio.Future[Scored] = asyncio.get_running_loop().create_future()
        self._pending.append((parsed, future))
        self.pending_rows += parsed.rows
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await future

    def _take(self) -> list[tuple[Parsed, asyncio.Future[Scored]]]:
        """The next batch: requests in order while their rows fit ``max_batch_rows``."""
        batch = [self._pending.popleft()]
        rows = batch[0][0].rows
        while self._pending and rows + self._pending[0][0].rows <= self.max_batch_rows:
            item = self._pending.popleft()
            batch.append(item)
            rows += item[0].rows
        self.pending_rows -= rows
        return batch

    async def _drain(self) -> None:
        """Score what waits, batch after batch, until nothing does (one drainer at a time)."""
        loop = asyncio.get_running_loop()
        while self._pending:
            # requests that timed out while waiting are not scored (nor counted)
            batch = [(parsed, future) for parsed, future in self._take() if not future.done()]
            served = self.served
            if not batch or served is None:
                for _, future in batch:
                    future.set_exception(NoModel(f"no {self.role} model is loaded"))
                continue
            calls: list[int] = []
            try:
                answers = await loop.run_in_executor(
                    self._executor, predict_each, served, [parsed for parsed, _ in batch], calls
                )
            except Exception as error:  # the executor itself failed (shut down)
                answers = [error] * len(batch)
            if self.on_batch is not None:
                for rows in calls:
                    self.on_batch(rows)
            for (_, future), answer in zip(batch, answers, strict=True):
                if future.done():
                    continue
                if isinstance(answer, Exception):
                    future.set_exception(answer)
                else:
                    future.set_result(Scored(served, *answer))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def canary_bucket(request_id: str) -> float:
    """A stable number in [0, 1) for ``request_id``: the same id always goes the same way."""
    digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def route(request_id: str, canary_fraction: float, challenger_ready: bool) -> str:
    """The role that answers: the challenger for ``canary_fraction`` of request ids."""
    if canary_fraction <= 0 or not challenger_ready:
        return CHAMPION
    return CHALLENGER if canary_bucket(request_id) < canary_fraction else CHAMPION


class Follower:
    """Polls the registry every ``poll_seconds`` and installs the version each alias points at.

    A new version is loaded beside the old one and installed only once it is ready (``loader``
    loads it by our checked rules and tries its own input example). When loading fails for a
    reason that may pass (the registry or the store is down), the old one keeps answering and
    the next poll tries again. A version that is refused (its checksum, its format, its types,
    or an answer of the wrong shape) is refused once: logged, reported to ``on_load_failure``
    with the reason (the alert) and not tried again while the alias stays on it. Every failure
    is reported there (``reason`` None: it may pass). An alias that
    disappears leaves the loaded version in place (an empty endpoint helps nobody), with a
    warning.
    """

    def __init__(
        self,
        model_name: str,
        roles: dict[str, str],
        scorers: dict[str, Scorer],
        poll_seconds: float,
        loader: Callable[[str, str], ServedModel],
        aliases: Callable[[str], dict[str, str]],
        feedback: Callable[[], None] | None = None,
        on_load_failure: Callable[[str, str, str | None], None] | None = None,
    ) -> None:
        self.model_name = model_name
        self.roles = roles
        self.scorers = scorers
        self.poll_seconds = poll_seconds
        self.loader = loader
        self.aliases = aliases
        self.feedback = feedback
        self.on_load_failure = on_load_failure
        self.refused: dict[str, str] = {}  # version -> why it will not answer
        self.last_poll: str | None = None
        self.last_error: str | None = None
        self.swaps: list[tuple[str, str | None, str]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> None:
        """One look at the registry (and the feedback folder)."""
        try:
            current = self.aliases(self.model_name)
        except Exception as error:  # the registry is down: keep serving what is loaded
            self.last_error = f"registry unreachable: {error!r}"
            logger.warning("%s", self.last_error)
            return
        self.last_poll = datetime.now(UTC).isoformat(timespec="seconds")
        self.last_error = None
        for role, alias in self.roles.items():  # the champion first
            version = current.get(alias)
            scorer = self.scorers[role]
            loaded = scorer.served.version if scorer.served else None
            answering = self.scorers[CHAMPION].served
            if role == CHALLENGER and answering is not None and version == answering.version:
                version = None  # the challenger is the champion: nothing else to try
                if loaded is not None:
                    scorer.install(None)
                continue
            if version is None:
                if loaded is not None and role == CHAMPION:
                    logger.warning(
                        "alias '%s' of '%s' is gone; version %s keeps answering",
                        alias,
                        self.model_name,
                        loaded,
                    )
                continue
            if version == loaded or version in self.refused:
                continue
            try:
                started = time.perf_counter()
                served = self.loader(self.model_name, version)
            except Exception as error:
                self._failed(role, version, loaded, error)
                continue
            scorer.install(served)
            self.swaps.append((role, loaded, version))
            logger.info(
                "%s: %s version %s -> %s (loaded in %.1f s)",
                role,
                self.model_name,
                loaded or "none",
                version,
                time.perf_counter() - started,
            )
        if self.feedback is not None:
            try:
                self.feedback()
            except Exception as error:
                logger.error("feedback folder: %r", error)

    def _failed(self, role: str, version: str, loaded: str | None, error: Exception) -> None:
        """A version that did not load: refused for good, or to be tried again next poll."""
        from tasks.adapters.registry import ModelRefused
        from tasks.steps.predict import UnfitModel

        keeps = f"version {loaded} keeps answering" if loaded else "no version answers"
        reason: str | None = None
        if isinstance(error, ModelRefused | UnfitModel):
            reason = str(error)
            self.refused[version] = reason
            self.last_error = f"{self.model_name} v{version} refused: {reason}"
            logger.error("%s; %s", self.last_error, keeps)
        else:
            self.last_error = f"loading {self.model_name} v{version} failed: {error!r}"
            logger.error("%s; %s; trying again at the next poll", self.last_error, keeps)
        if self.on_load_failure is not None:
            try:
                self.on_load_failure(role, version, reason)
            except Exception as hook_error:  # the alert is best effort; serving goes on
                logger.error("reporting the failed load failed: %r", hook_error)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="registry-follower", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.poll()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


def label_rule(served: ServedModel | None) -> LabelRule | None:
    """What a label must be for the model that answers (None: no model loaded yet)."""
    from tasks.steps.labels import LabelRule

    if served is None:
        return None
    return LabelRule.of(served.task, served.classes, f"{served.model_name} v{served.version}")


def feedback_taker(
    log: Path, folder: Path, rule: Callable[[], LabelRule | None], max_bytes: int
) -> Callable[[], None]:
    """A poll step that loads label files dropped in ``folder`` into the inference log, each
    label checked by ``rule()`` (the champion's classes, asked at each poll; no model loaded
    yet: the files wait). One worker at a time takes the folder in (an flock)."""
    from tasks.adapters import inference_log

    def take() -> None:
        checking = rule()
        if checking is None or not folder.is_dir():
            return
        for line in inference_log.take_in_feedback_folder(log, folder, checking, max_bytes):
            logger.info("feedback: %s", line)

    return take
