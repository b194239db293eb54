"""The HTTP scoring service: ``mlops serve``.

MLflow's scoring protocol (``POST /invocations``, ``GET /ping``, ``/health``, ``/version``) plus
``GET /metadata``, ``POST /feedback`` and Prometheus ``GET /metrics``, and the open inference
protocol (KServe's, MLServer's and Triton's V2 REST: ``/v2/...``, :mod:`serving.v2`). It serves
``models:/NAME@<serve.alias>`` and follows the alias (:class:`serving.engine.Follower`); with
``serve.canary_fraction`` or ``serve.shadow`` it also loads the ``challenger``. Every response
names the version that answered (``X-Model-Version``) and every scored row goes to the
inference log. With ``SERVING_TOKEN`` set, every route but ``/ping``, ``/health`` and the V2
health probes (``/v2/health/live``, ``/v2/health/ready``) needs ``Authorization: Bearer
<token>``, and ``/health`` without it says only whether a model answers.
Secure by default: a token shorter than 32 characters is refused, and so is a bind beyond
loopback without a token (unless ``mlops serve --insecure``). With ``SERVING_FEEDBACK_TOKEN``
set, ``/feedback`` needs that token instead (the scoring token no longer labels anything): see
:func:`feedback_principal`.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from serving.engine import (
    Busy,
    Follower,
    NoModel,
    Scored,
    Scorer,
    feedback_taker,
    label_rule,
    platform_of,
    route,
    with_runtime,
)
from serving.protocol import Parsed, RequestError, parse_request
from serving.v2 import PREDICT, model_metadata, output_names, output_tensors, parse_infer
from tasks.config import Params, ServeParams
from tasks.types import CHALLENGER, CHAMPION, ServedModel

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

logger = logging.getLogger("mlops.serving")
access = logging.getLogger("mlops.serving.access")

OPEN_PATHS = frozenset({"/ping", "/health", "/v2/health/live", "/v2/health/ready"})
KNOWN_PATHS = frozenset(
    {
        "/invocations",
        "/ping",
        "/health",
        "/version",
        "/metadata",
        "/feedback",
        "/metrics",
        "/openapi.json",
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
    }
)
# the V2 routes that name a model (and a version): counted by their template, not their path
V2_MODEL_PATH = re.compile(r"/v2/models/[^/]+(/versions/[^/]+)?(/ready|/infer)?")
V2_PREFIX = "/v2"
SERVER_NAME = "mlops"  # GET /v2 names the server so
TOKEN_ENV = "SERVING_TOKEN"
MIN_TOKEN_CHARS = 32
FEEDBACK_TOKEN_ENV = "SERVING_FEEDBACK_TOKEN"
MAX_REQUEST_ID = 128  # characters of a request id a label names
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # a client's X-Request-ID, else ours
INLINE_PARSE_BYTES = 65536  # smaller bodies are parsed on the event loop (linear: < 1 ms)
RETRY_AFTER_SECONDS = "1"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
T = TypeVar("T")


def load_and_try(model_name: str, version: str, serve: ServeParams) -> ServedModel:
    """``version`` loaded by our checked loader with the runtime ``serve.runtime`` chooses
    (:func:`serving.engine.with_runtime`), once it has scored its own input example through
    that runtime; the runtime and, for scikit-learn, why, in a log line."""
    from tasks.adapters import registry

    loaded = registry.load_served(model_name, version)
    return prepared(loaded, serve, lambda: registry.load_compiled(model_name, version))


def prepared(
    served: ServedModel, serve: ServeParams, graph: Callable[[], bytes | None]
) -> ServedModel:
    """``served`` with its runtime (``graph()``: its compiled graph, when it may have one),
    tried on its own input example by that runtime, and the choice logged."""
    from tasks.steps.predict import try_example

    served = with_runtime(served, serve.runtime, serve.onnx_threads, graph)
    try_example(served)
    what = f"{served.model_name} v{served.version}"
    if served.compiled is not None:
        logger.info(
            "%s: served by ONNX Runtime (its compiled graph, %d intra-op thread(s); parity at "
            "registration on %s rows, max |diff| %s)",
            what,
            served.compiled.threads,
            served.tags.get("runtime.onnx.rows", "?"),
            served.tags.get("runtime.onnx.max_abs_diff", served.tags.get(
                "runtime.onnx.max_rel_diff", "?")),
        )  # fmt: skip
    else:
        logger.info("%s: served by scikit-learn: %s", what, served.runtime_reason)
    return served


class InsecureSetting(ValueError):
    """A setting the service refuses to start with (a short token, an open bind)."""


def checked_token(token: str | None, env: str = TOKEN_ENV) -> str | None:
    """``token``, unless it is too short to be a secret (then :class:`InsecureSetting`)."""
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise InsecureSetting(
            f"{env} has {len(token)} characters; a token needs at least {MIN_TOKEN_CHARS} "
            "(make one: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return token


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def check_bind(host: str, token: str | None, insecure: bool) -> None:
    """Refuse to listen beyond loopback without a token, unless ``insecure`` says so."""
    if token or insecure or is_loopback(host):
        return
    raise InsecureSetting(
        f"--host {host} is reachable from other machines and {TOKEN_ENV} is unset: anyone "
        "could score, read /metadata and send labels. Set "
        f"{TOKEN_ENV} ({MIN_TOKEN_CHARS}+ characters), or pass --insecure to serve without one"
    )


@dataclass
class Settings:
    """What the service needs, resolved once from the project and the environment."""

    model_name: str
    serve: ServeParams
    log_path: Path
    feedback_dir: Path
    token: str | None = None
    feedback_token: str | None = None  # set: /feedback needs it, and the scoring token not
    runbook_url: str = ""  # the alerts link to it
    notify: dict[str, Any] = field(default_factory=dict)  # webhook.send's options

    def __post_init__(self) -> None:
        checked_token(self.token)
        checked_token(self.feedback_token, FEEDBACK_TOKEN_ENV)

    @classmethod
    def from_project(cls, root: Path, params: Params) -> Settings:
        from tasks.runtime import runbook_url

        return cls(
            model_name=params.register_.resolved_model_name(params.ingest.path),
            serve=params.serve,
            log_path=root / params.paths.inference_log,
            feedback_dir=root / params.paths.feedback,
            token=os.environ.get(TOKEN_ENV) or None,
            runbook_url=runbook_url(root),
            notify=params.notify.send_options(),
            feedback_token=os.environ.get(FEEDBACK_TOKEN_ENV) or None,
        )


class Metrics:
    """The service's Prometheus metrics, in a registry of its own."""

    def __init__(self) -> None:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
            disable_created_metrics,
        )

        disable_created_metrics()  # type: ignore[no-untyped-call]

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mlops_requests", "HTTP requests by path and status", ["path", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "mlops_request_seconds", "Time to answer a request", ["path"],
            buckets=(.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10),
            registry=self.registry,
        )  # fmt: skip
        self.rows = Counter(
            "mlops_predictions", "Rows scored, by role and model version", ["role", "version"],
            registry=self.registry,
        )  # fmt: skip
        self.batch_rows = Histogram(
            "mlops_batch_rows", "Rows per call of the model (requests scored together)",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096), registry=self.registry,
        )  # fmt: skip
        self.errors = Counter("mlops_errors", "Failures by kind", ["kind"], registry=self.registry)
        self.version = Gauge(
            "mlops_model_version", "The version loaded per role (0: none)", ["model", "role"],
            registry=self.registry,
        )  # fmt: skip

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        data: bytes = generate_latest(self.registry)
        return data


class Service:
    """The scorers, the follower and the inference log behind one app."""

    def __init__(self, settings: Settings) -> None:
        from tasks.adapters import inference_log, registry

        self.settings = settings
        serve = settings.serve
        self.metrics = Metrics()
        roles = {CHAMPION: serve.alias}
        if serve.canary_fraction > 0 or serve.shadow:
            roles[CHALLENGER] = registry.CHALLENGER
        self.scorers = {
            role: Scorer(role, serve.max_batch_rows, serve.max_pending_rows) for role in roles
        }
        for scorer in self.scorers.values():
            scorer.on_batch = self.metrics.batch_rows.observe
        self.follower = Follower(
            settings.model_name,
            roles,
            self.scorers,
            serve.poll_seconds,
            loader=lambda name, version: load_and_try(name, version, serve),
            aliases=registry.aliases,
            feedback=feedback_taker(
                settings.log_path,
                settings.feedback_dir,
                lambda: label_rule(self.scorers[CHAMPION].served),
                serve.feedback_max_bytes,
            ),
            on_load_failure=self.load_failed,
        )
        self.log = inference_log.LogWriter(
            settings.log_path,
            serve.log_flush_seconds,
            serve.log_queue_rows,
            inference_log.Retention(
                serve.log_retention_days, serve.log_retention_rows, serve.log_retention_seconds
            ),
        )
        self.feedback_refused: dict[str, int] = {}  # labels refused, by reason (/health)
        self.background: set[asyncio.Task[Any]] = set()

    def load_failed(self, role: str, version: str, refused: str | None) -> None:
        """Count a failed load; when ``version`` was refused, tell the on-call engineer why (in
        a thread: the webhook's retries never hold up the follower)."""
        from tasks.adapters import webhook
        from tasks.steps.notify import model_refused

        self.metrics.errors.labels("model_load").inc()
        if refused is None:
            return
        answering = self.scorers[role].served
        message = model_refused(
            model=self.settings.model_name,
            version=version,
            role=role,
            reason=refused,
            answering=answering.version if answering else None,
            runbook_url=self.settings.runbook_url,
        )

        def deliver() -> None:
            delivery = webhook.send(message, **self.settings.notify)
            logger.warning("alert: version %s refused; webhook %s", version, delivery.detail)

        threading.Thread(target=deliver, name="refused-alert", daemon=True).start()

    def publish_versions(self) -> None:
        for role, scorer in self.scorers.items():
            version = scorer.served.version if scorer.served else "0"
            self.metrics.version.labels(self.settings.model_name, role).set(float(version))

    def start(self) -> None:
        # The scoring thread holds the GIL for a whole call of the model; a shorter switch
        # interval (5 ms by default) lets the event loop take requests in meanwhile.
        sys.setswitchinterval(0.0005)
        self.follower.poll()  # the first load happens before the first request is accepted
        self.publish_versions()
        self.follower.start()

    def stop(self) -> None:
        self.follower.stop()
        self.log.close()
        for scorer in self.scorers.values():
            scorer.close()

    def record(self, scored: Scored, parsed: Parsed, request_id: str, role: str, answered: bool,
               latency_ms: float | None) -> None:  # fmt: skip
        from tasks.adapters.inference_log import Prediction, now

        served = scored.served
        self.metrics.rows.labels(role, served.version).inc(parsed.rows)
        self.log.put(
            Prediction(
                time=now(),
                request_id=request_id,
                model_name=served.model_name,
                model_version=served.version,
                role=role,
                answered=answered,
                source="http",
                latency_ms=latency_ms,
                features=parsed.records(),
                predictions=scored.predictions,
                probabilities=scored.probabilities,
            )
        )

    async def shadow(self, parsed: Parsed, request_id: str) -> None:
        scorer = self.scorers.get(CHALLENGER)
        if scorer is None or scorer.served is None:
            return
        started = time.perf_counter()
        try:
            scored = await scorer.score(parsed)
        except Exception as error:  # the shadow never affects the answer
            self.metrics.errors.labels("shadow").inc()
            logger.error("shadow scoring of %s failed: %r", request_id, error)
            return
        latency = (time.perf_counter() - started) * 1000
        self.record(scored, parsed, request_id, CHALLENGER, False, latency)

    async def answer(
        self, parsed: Parsed, request_id: str, started: float, role: str | None = None,
        version: str | None = None,
    ) -> tuple[Scored, str]:  # fmt: skip
        """``parsed`` scored, recorded (metrics, the inference log, the shadow) and the role
        that answered, whatever protocol it came by; a :class:`Refusal` when it cannot be.
        ``role`` None: routed (the canary's share to the challenger, which falls back to the
        champion when it fails); a role: that one answers (a V2 request naming ``version``,
        refused if a swap replaced that version while the request waited)."""
        serve = self.settings.serve
        ids = {"X-Request-ID": request_id}
        champion = self.scorers[CHAMPION]
        routed = role is None
        if role is None:
            challenger = self.scorers.get(CHALLENGER)
            role = route(request_id, serve.canary_fraction, bool(challenger and challenger.served))
        try:
            scored = await asyncio.wait_for(self.scorers[role].score(parsed), serve.timeout_seconds)
        except TimeoutError:
            self.metrics.errors.labels("timeout").inc()
            raise Refusal(
                504, f"not answered within {serve.timeout_seconds:g} s (serve.timeout_seconds)",
                ids,
            ) from None  # fmt: skip
        except Busy as error:
            self.metrics.errors.labels("busy").inc()
            headers = {**ids, "Retry-After": RETRY_AFTER_SECONDS}
            raise Refusal(503, str(error), headers, code="BUSY") from None
        except NoModel as error:
            raise Refusal(503, str(error), ids) from None
        except Exception as error:
            if role != CHALLENGER or not routed:
                self.metrics.errors.labels("predict").inc()
                logger.exception("scoring %s failed", request_id)
                raise Refusal(
                    500, f"the model failed on this input: {type(error).__name__}", ids
                ) from None
            # a failing canary falls back to the champion, within what is left of the timeout
            self.metrics.errors.labels("canary").inc()
            logger.error("canary scoring of %s failed: %r", request_id, error)
            role = CHAMPION
            left = serve.timeout_seconds - (time.perf_counter() - started)
            try:
                scored = await asyncio.wait_for(champion.score(parsed), max(left, 0.0))
            except Exception as fallback:
                logger.error("champion fallback of %s failed: %r", request_id, fallback)
                raise Refusal(
                    500, "neither the challenger nor the champion could answer", ids
                ) from None
        if version is not None and scored.served.version != version:
            raise Refusal(
                404,
                f"version '{version}' of '{scored.served.model_name}' was replaced by version "
                f"{scored.served.version} while this request waited; send it again",
                ids,
            )
        latency = (time.perf_counter() - started) * 1000
        self.record(scored, parsed, request_id, role, True, latency)
        if serve.shadow and role == CHAMPION:
            task = asyncio.create_task(self.shadow(parsed, request_id))
            self.background.add(task)
            task.add_done_callback(self.background.discard)
        return scored, role


def runtime_of(served: ServedModel | None) -> dict[str, Any]:
    """What scores ``served`` (``onnx`` or ``sklearn``) and, for scikit-learn, why."""
    if served is None:
        return {"runtime": None, "runtime_reason": None}
    return {"runtime": served.runtime, "runtime_reason": served.runtime_reason or None}


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    import orjson
    from starlette.responses import Response

    body = orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, status, headers=headers, media_type="application/json")


def _error(
    status: int, message: str, headers: dict[str, str] | None = None, code: str | None = None
) -> Response:
    body = {"error_code": code or _CODES.get(status, "ERROR"), "message": message}
    return _json(body, status, headers)


def _v2_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An error as the open inference protocol writes it: ``{"error": message}``."""
    return _json({"error": message}, status, headers)


_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    404: "NOT_FOUND",
    408: "REQUEST_TIMEOUT",
    409: "CONFLICT",
    413: "REQUEST_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    503: "NO_MODEL",
    504: "TIMEOUT",
}


async def _read_body(request: Any, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(
            413, f"the body is {int(declared)} bytes; the limit is {limit} (serve.max_body_bytes)"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(
                413, f"the body is over {limit} bytes, the limit (serve.max_body_bytes)"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def path_label(path: str) -> str:
    """The path as the metrics count it: a known path, a V2 model route's template, or
    ``other`` (a bounded set of labels, whatever paths clients send)."""
    if path in KNOWN_PATHS:
        return path
    matched = V2_MODEL_PATH.fullmatch(path)
    if matched is None:
        return "other"
    version = "/versions/{version}" if matched[1] else ""
    return f"/v2/models/{{name}}{version}{matched[2] or ''}"


def request_id_of(*given: str | None) -> str:
    """The first of ``given`` (the client's ``X-Request-ID``, then a V2 request's ``id``) that
    is ``[A-Za-z0-9._:-]{1,128}``, else one of ours (a client cannot forge log fields with it;
    the response's header says which was used)."""
    for candidate in given:
        if candidate is not None and REQUEST_ID.fullmatch(candidate):
            return candidate
    return uuid.uuid4().hex


class Refusal(Exception):
    """A request answered with an error: each protocol writes it in its own form."""

    def __init__(
        self, status: int, message: str, headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.status, self.message, self.headers, self.code = status, message, headers, code


async def parse_body(request: Any, serve: ServeParams, parse: Callable[[bytes, str], T]) -> T:
    """The request's body read (within ``serve.timeout_seconds``: 408 past it) and parsed by
    ``parse(body, content_type)``: a large body in a thread, within the same deadline (413 past
    it), so that no body holds the event loop."""
    try:
        body = await asyncio.wait_for(
            _read_body(request, serve.max_body_bytes), serve.timeout_seconds
        )
    except TimeoutError:
        raise RequestError(
            408,
            f"the body did not arrive within {serve.timeout_seconds:g} s (serve.timeout_seconds)",
        ) from None
    content_type = request.headers.get("content-type", "application/json")
    if len(body) <= INLINE_PARSE_BYTES:
        return parse(body, content_type)
    work = asyncio.get_running_loop().run_in_executor(None, parse, body, content_type)
    try:
        return await asyncio.wait_for(work, serve.timeout_seconds)
    except TimeoutError:
        raise RequestError(
            413,
            f"the body was not parsed within {serve.timeout_seconds:g} s "
            "(serve.timeout_seconds): send fewer rows per request",
        ) from None


class Guard:
    """Outermost layer: bearer token, latency and request metrics, the access log (one line per
    scoring request, naming the version that answered)."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.service = service
        token = service.settings.token
        self.expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websocket routes: refused before anything runs
            await send({"type": "websocket.close", "code": 1008})
            return
        path = scope["path"]
        label = path_label(path)
        started = time.perf_counter()
        sent: dict[str, Any] = {}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
                sent["headers"] = message.get("headers", [])
            await send(message)

        if (
            self.expected is not None
            and path not in OPEN_PATHS
            and not checks_its_own_token(path, self.service.settings)
        ):
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                refusal = "missing or wrong bearer token (Authorization: Bearer <SERVING_TOKEN>)"
                challenge = {"WWW-Authenticate": "Bearer"}
                response = (
                    _v2_error(401, refusal, challenge)
                    if path == V2_PREFIX or path.startswith(f"{V2_PREFIX}/")
                    else _error(401, refusal, challenge)
                )
                await response(scope, receive, sending)
                _observe(self.service.metrics, label, 401, started)
                return
        await self.app(scope, receive, sending)
        status = int(sent.get("status", 500))
        _observe(self.service.metrics, label, status, started)
        scoring = path == "/invocations" or label.endswith("/infer")
        if scoring and access.isEnabledFor(logging.INFO):
            answered = dict(sent.get("headers", []))
            access.info(
                "%s %s %d %.1fms request_id=%s model_version=%s role=%s",
                scope["method"],
                path,
                status,
                (time.perf_counter() - started) * 1000,
                answered.get(b"x-request-id", b"-").decode(errors="replace"),
                answered.get(b"x-model-version", b"-").decode(errors="replace"),
                answered.get(b"x-model-role", b"-").decode(errors="replace"),
            )


def _observe(metrics: Metrics, label: str, status: int, started: float) -> None:
    metrics.requests.labels(label, str(status)).inc()
    metrics.latency.labels(label).observe(time.perf_counter() - started)


Endpoint = Callable[["Request"], Awaitable["Response"]]


def route_of(api: Any, path: str, method: str) -> Callable[[Endpoint], Endpoint]:
    """Register a plain Starlette endpoint (the request in, a response out: no dependency
    injection on the scoring path)."""

    def register(endpoint: Endpoint) -> Endpoint:
        api.add_route(path, endpoint, methods=[method])
        return endpoint

    return register


# C901, PLR0915: debt: the routes as closures, to become module-level handlers
def create_app(settings: Settings) -> Guard:  # noqa: C901, PLR0915
    """The ASGI application for ``settings`` (models load when it starts)."""
    from fastapi import FastAPI
    from starlette.responses import PlainTextResponse, Response

    service = Service(settings)
    serve = settings.serve

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        await asyncio.get_running_loop().run_in_executor(None, service.start)
        try:
            yield
        finally:
            service.stop()

    api = FastAPI(
        title="mlops scoring service",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    def model_headers(scored: Scored, role: str, request_id: str) -> dict[str, str]:
        return {
            "X-Model-Name": scored.served.model_name,
            "X-Model-Version": scored.served.version,
            "X-Model-Role": role,
            "X-Request-ID": request_id,
        }

    async def parsed_body(request: Request, request_id: str, parse: Callable[[bytes, str], T]) -> T:
        """The body parsed by ``parse``, or a :class:`Refusal`."""
        from starlette.requests import ClientDisconnect

        ids = {"X-Request-ID": request_id}
        try:
            return await parse_body(request, serve, parse)
        except RequestError as error:
            raise Refusal(error.status, error.message, ids) from None
        except ClientDisconnect:  # nothing to answer, and no failure of ours
            service.metrics.errors.labels("client_disconnect").inc()
            raise Refusal(
                400, "the client disconnected before sending the whole body", ids
            ) from None

    def no_model() -> Refusal:
        return Refusal(503, f"no version of '{settings.model_name}' is '{serve.alias}' yet")

    def served_role(name: str, version: str | None) -> str | None:
        """The role a V2 route's model (and version) names: None for the model without a
        version (routed as /invocations is); a :class:`Refusal` (404) for another model or a
        version that is not loaded."""
        if name != settings.model_name:
            raise Refusal(
                404,
                f"model '{name[:64]}' is not served here; this endpoint serves "
                f"'{settings.model_name}' (GET /v2/models/{settings.model_name})",
            )
        if version is None:
            return None
        loaded = {s.served.version: role for role, s in service.scorers.items() if s.served}
        if version not in loaded:
            raise Refusal(
                404,
                f"version '{version[:64]}' of '{name}' is not served here; the versions "
                f"served: {list(loaded)} (GET /v2/models/{name})",
            )
        return loaded[version]

    def loaded_versions() -> list[str]:
        return [s.served.version for s in service.scorers.values() if s.served is not None]

    @route_of(api, "/invocations", "POST")
    async def invocations(request: Request) -> Response:
        started = time.perf_counter()
        request_id = request_id_of(request.headers.get("x-request-id"))
        served = service.scorers[CHAMPION].served
        if served is None:
            return _error(503, no_model().message)
        columns, query = served.columns, dict(request.query_params)
        try:
            parsed = await parsed_body(
                request,
                request_id,
                lambda body, media: parse_request(body, media, columns, serve.max_rows, query),
            )
            # the role is chosen once the request is known to be good
            scored, role = await service.answer(parsed, request_id, started)
        except Refusal as refused:
            return _error(refused.status, refused.message, refused.headers, refused.code)
        answer: dict[str, Any] = {"predictions": scored.predictions}
        if parsed.probabilities and scored.probabilities is not None:
            answer["probabilities"] = scored.probabilities
            answer["classes"] = list(scored.served.classes)
        return _json(answer, headers=model_headers(scored, role, request_id))

    @route_of(api, "/ping", "GET")
    async def ping(request: Request) -> Response:
        ready = service.scorers[CHAMPION].served is not None
        return PlainTextResponse("\n", status_code=200 if ready else 503)

    expected = f"Bearer {settings.token}".encode() if settings.token else None

    @route_of(api, "/health", "GET")
    async def health(request: Request) -> Response:
        scorer = service.scorers[CHAMPION]
        served = scorer.served
        status = "ok" if served else "no model"
        given = request.headers.get("authorization", "").encode("latin-1")
        if expected is not None and not hmac.compare_digest(given, expected):
            # open to health checks, which need no details (versions, loader errors)
            return _json({"status": status}, 200 if served else 503)
        body = {
            "status": status,
            "model": settings.model_name,
            "alias": serve.alias,
            "version": served.version if served else None,
            **runtime_of(served),
            "loaded_at": scorer.loaded_at,
            "last_poll": service.follower.last_poll,
            "last_error": service.follower.last_error,
            "refused": dict(service.follower.refused),
            "inference_log": service.log.status(),
            "feedback_refused": dict(service.feedback_refused),
        }
        return _json(body, 200 if served else 503)

    @route_of(api, "/version", "GET")
    async def version(request: Request) -> Response:
        from importlib.metadata import version as installed

        served = service.scorers[CHAMPION].served
        return _json(
            {
                "mlflow": installed("mlflow"),
                "model": settings.model_name,
                "version": served.version if served else None,
            }
        )

    @route_of(api, "/metadata", "GET")
    async def metadata(request: Request) -> Response:
        def describe(scorer: Scorer) -> dict[str, Any] | None:
            served = scorer.served
            if served is None:
                return None
            return {
                "version": served.version,
                "run_id": served.run_id,
                "data_version": served.data_md5,
                "task": served.task,
                "classes": list(served.classes),
                "threshold": served.threshold if served.task == "binary" else None,
                **runtime_of(served),
                "loaded_at": scorer.loaded_at,
                "signature": {
                    "inputs": [
                        {"name": c.name, "type": c.type, "required": c.required}
                        for c in served.columns
                    ]
                },
            }

        return _json(
            {
                "model": settings.model_name,
                "alias": serve.alias,
                **(describe(service.scorers[CHAMPION]) or {"version": None}),
                "challenger": describe(service.scorers[CHALLENGER])
                if CHALLENGER in service.scorers
                else None,
                "routing": {"canary_fraction": serve.canary_fraction, "shadow": serve.shadow},
                "poll_seconds": serve.poll_seconds,
            }
        )

    @route_of(api, "/feedback", "POST")
    async def feedback(request: Request) -> Response:
        return await take_feedback(request, service)

    @route_of(api, "/openapi.json", "GET")
    async def openapi(request: Request) -> Response:
        from serving.openapi import document

        served = service.scorers[CHAMPION].served
        signature = served.columns if served else ()
        outputs = output_names(served) if served else (PREDICT,)
        document_ = document(
            signature, serve.max_rows, settings.token is not None, settings.model_name, outputs
        )
        return _json(document_)

    @route_of(api, "/metrics", "GET")
    async def metrics(request: Request) -> Response:
        service.publish_versions()
        return Response(
            service.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    # the open inference protocol (serving/v2.py): errors are {"error": message}

    @route_of(api, "/v2/health/live", "GET")
    async def v2_live(request: Request) -> Response:
        return _json({"live": True})

    @route_of(api, "/v2/health/ready", "GET")
    async def v2_ready(request: Request) -> Response:
        ready = service.scorers[CHAMPION].served is not None
        return _json({"ready": ready}, 200 if ready else 400)  # the protocol: 4xx, not ready

    @route_of(api, "/v2", "GET")
    async def v2_server(request: Request) -> Response:
        from importlib.metadata import version as installed

        return _json(
            {"name": SERVER_NAME, "version": installed("mlops-platform"), "extensions": []}
        )

    async def v2_model(request: Request) -> Response:
        params = request.path_params
        try:
            role = served_role(params["name"], params.get("version"))
            served = service.scorers[role or CHAMPION].served
            if served is None:
                raise no_model()
        except Refusal as refused:
            return _v2_error(refused.status, refused.message)
        return _json(model_metadata(served, loaded_versions(), platform_of(served)))

    async def v2_model_ready(request: Request) -> Response:
        params = request.path_params
        try:
            role = served_role(params["name"], params.get("version"))
        except Refusal as refused:
            return _v2_error(refused.status, refused.message)
        ready = service.scorers[role or CHAMPION].served is not None
        return _json({"name": params["name"], "ready": ready}, 200 if ready else 400)

    async def v2_infer(request: Request) -> Response:
        started = time.perf_counter()
        params = request.path_params
        given = request.headers.get("x-request-id")
        request_id = request_id_of(given)
        try:
            role = served_role(params["name"], params.get("version"))
            served = service.scorers[role or CHAMPION].served
            if served is None:
                raise no_model()
            if request.query_params:
                names = sorted(repr(k[:40]) for k in request.query_params)
                raise Refusal(400, f"unknown query parameter(s) {', '.join(names[:5])}: an "
                                   "inference request takes none")  # fmt: skip
            columns, outputs = served.columns, output_names(served)
            infer = await parsed_body(
                request,
                request_id,
                lambda body, media: parse_infer(body, media, columns, serve.max_rows, outputs),
            )
            request_id = request_id_of(given, infer.id)  # the request's id, when it can be one
            scored, role = await service.answer(
                infer.parsed, request_id, started, role, params.get("version")
            )
        except Refusal as refused:
            headers = {"X-Request-ID": request_id, **(refused.headers or {})}
            return _v2_error(refused.status, refused.message, headers)
        answered = scored.served
        body = {
            "model_name": answered.model_name,
            "model_version": answered.version,
            "id": request_id if infer.id is None else infer.id,
            "outputs": output_tensors(
                answered, scored.predictions, scored.probabilities, infer.outputs
            ),
        }
        return _json(body, headers=model_headers(scored, role, request_id))

    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        api.add_route(prefix, v2_model, methods=["GET"])
        api.add_route(f"{prefix}/ready", v2_model_ready, methods=["GET"])
        api.add_route(f"{prefix}/infer", v2_infer, methods=["POST"])

    from starlette.exceptions import HTTPException

    async def no_such_route(request: Request, error: Exception) -> Response:
        """A path or method no route takes: under ``/v2`` in the protocol's error form."""
        from fastapi.exception_handlers import http_exception_handler

        if not isinstance(error, HTTPException):  # registered for HTTPException only
            raise error
        path = request.url.path
        if not (path == V2_PREFIX or path.startswith(f"{V2_PREFIX}/")):
            return await http_exception_handler(request, error)
        shown = path if len(path) <= 100 else path[:97] + "..."
        if error.status_code == 405:
            allowed = (error.headers or {}).get("Allow", "")
            message = f"{request.method} is not a method of {shown}; it takes {allowed}"
        elif error.status_code == 404:
            message = f"no route {shown} in the open inference protocol (GET /openapi.json)"
        else:
            message = str(error.detail)
        return _v2_error(error.status_code, message, dict(error.headers or {}))

    api.add_exception_handler(HTTPException, no_such_route)

    return Guard(api, service)


def checks_its_own_token(path: str, settings: Settings) -> bool:
    """Whether the route checks the bearer token itself, so the Guard lets it through:
    ``/feedback`` when ``SERVING_FEEDBACK_TOKEN`` is set (:func:`feedback_principal`)."""
    return path == "/feedback" and settings.feedback_token is not None


def feedback_principal(headers: Mapping[str, str], settings: Settings) -> str | None:
    """Who sends labels, as recorded with them: ``http:feedback-token`` (the labelling token,
    when ``SERVING_FEEDBACK_TOKEN`` is set: then only it), ``http:token`` (the scoring token,
    which the Guard checked) or ``http:open`` (no token set); None: refused."""
    if settings.feedback_token is not None:
        given = headers.get("authorization", "").encode()
        expected = f"Bearer {settings.feedback_token}".encode()
        return "http:feedback-token" if hmac.compare_digest(given, expected) else None
    return "http:token" if settings.token is not None else "http:open"


def _labels_of(payload: Any, limit: int) -> list[tuple[str, int, Any]]:
    """``(request_id, row, label)`` from a /feedback body; RequestError naming the entry."""
    items = payload.get("labels", payload) if isinstance(payload, dict) else payload
    items = [items] if isinstance(items, dict) else items
    if not isinstance(items, list):
        items = [None]
    if len(items) > limit:
        raise RequestError(
            413,
            f"{len(items)} labels in one call; the limit is {limit} (serve.feedback_max_labels)",
        )
    labels = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or "request_id" not in item or "label" not in item:
            raise RequestError(
                400, f"label {index}: each label needs 'request_id' and 'label' (and 'row')"
            )
        row = item.get("row", 0)
        if type(row) is not int or not 0 <= row < 2**63:
            raise RequestError(400, f"label {index}: 'row' must be a whole number in [0, 2^63)")
        request_id = item["request_id"]
        if not isinstance(request_id, str) or len(request_id) > MAX_REQUEST_ID:
            raise RequestError(
                400,
                f"label {index}: 'request_id' must be text of at most {MAX_REQUEST_ID} characters",
            )
        labels.append((request_id, row, item["label"]))
    return labels


async def take_feedback(request: Request, service: Service) -> Response:
    """``POST /feedback``: labels for answered rows, checked against the champion's classes
    (tasks/adapters/inference_log.add_feedback: all or nothing, the first label wins)."""
    import orjson

    from tasks.adapters import inference_log

    settings, serve = service.settings, service.settings.serve
    principal = feedback_principal(request.headers, settings)
    if principal is None:
        return _error(
            401,
            f"missing or wrong bearer token (Authorization: Bearer <{FEEDBACK_TOKEN_ENV}>)",
            {"WWW-Authenticate": "Bearer"},
        )
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        return _error(415, f"labels are sent as application/json, not '{media or 'none'}'")
    rule = label_rule(service.scorers[CHAMPION].served)
    if rule is None:
        return _error(503, "no model is loaded to check labels against")
    try:
        body = await _read_body(request, serve.max_body_bytes)
        labels = _labels_of(orjson.loads(body), serve.feedback_max_labels)
    except RequestError as error:
        return _error(error.status, error.message)
    except orjson.JSONDecodeError as error:
        return _error(400, f"the body is not valid JSON: {error.args[0]}")

    def store() -> inference_log.FeedbackResult:
        try:
            return inference_log.add_feedback(settings.log_path, labels, principal, rule)
        except inference_log.FeedbackRefused as refused:
            if not refused.counts.get("unknown"):
                raise
        # a row answered a moment ago may still wait for the writer (this worker's or another's)
        service.log.flush(timeout=serve.log_flush_seconds * 4)
        time.sleep(serve.log_flush_seconds)
        return inference_log.add_feedback(settings.log_path, labels, principal, rule)

    try:
        result = await asyncio.get_running_loop().run_in_executor(None, store)
    except inference_log.FeedbackRefused as refused:
        for reason, count in refused.counts.items():
            if count:
                service.feedback_refused[reason] = service.feedback_refused.get(reason, 0) + count
                service.metrics.errors.labels(f"feedback_{reason}").inc(count)
        return _error(refused.status, str(refused))
    return _json({"accepted": result.taken, "unchanged": result.unchanged})


def app_from_environment() -> Any:
    """The app for the project in ``MLOPS_PROJECT`` (for ``uvicorn --factory``, several workers)."""
    from tasks.adapters import tracking
    from tasks.config import load_params
    from tasks.runtime import apply_defaults, project_root

    apply_defaults()
    root = project_root(
        Path(os.environ["MLOPS_PROJECT"]) if "MLOPS_PROJECT" in os.environ else None
    )
    params = load_params(root / "params.yaml")
    tracking.configure(root)
    return create_app(Settings.from_project(root, params))


def server_options(serve: ServeParams) -> dict[str, Any]:
    """uvicorn's options for back-pressure: past ``serve.limit_concurrency`` connections or
    requests at once, uvicorn answers 503 itself (the request never reaches the app)."""
    return {"limit_concurrency": serve.limit_concurrency}


def log_config(access_log: bool) -> dict[str, Any]:
    """uvicorn's logging, plus the service's own loggers (the access log names the version)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["mlops"] = {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    config["handlers"]["mlops"] = {
        "class": "logging.StreamHandler",
        "formatter": "mlops",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["mlops.serving"] = {
        "handlers": ["mlops"],
        "level": "INFO",
        "propagate": False,
    }
    config["loggers"]["mlops.inference_log"] = {"handlers": ["mlops"], "level": "INFO"}
    config["loggers"]["mlops.serving.access"] = {
        "handlers": ["mlops"] if access_log else [],
        "level": "INFO" if access_log else "WARNING",
        "propagate": False,
    }
    return config
