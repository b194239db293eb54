"""Routing and the registry follower's rules, with the registry given as plain functions."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from serving.engine import Follower, Scorer, canary_bucket, route
from serving.protocol import Parsed
from tasks.types import CHALLENGER, CHAMPION, Column, ServedModel


class Constant:
    """A stand-in model (the follower's rules do not depend on what it predicts)."""

    def __init__(self, p: float) -> None:
        self.p = p
        self.calls: list[int] = []

    def predict_proba(self, frame: Any) -> Any:
        import numpy as np

        self.calls.append(len(frame))
        return np.array([[1 - self.p, self.p]] * len(frame))


def served(version: str, p: float = 0.7) -> ServedModel:
    return ServedModel("m", version, Constant(p), (Column("x", "double", True),), (0, 1),
                       "binary", 0.5, "run", "md5", {})  # fmt: skip


def test_the_canary_bucket_is_stable_and_routes_its_share() -> None:
    ids = [f"user-{i}" for i in range(10_000)]

    chosen = [route(i, 0.1, challenger_ready=True) for i in ids]

    assert canary_bucket("user-1") == canary_bucket("user-1")
    assert 0.09 < chosen.count(CHALLENGER) / len(ids) < 0.11
    assert {route(i, 0.0, True) for i in ids[:100]} == {CHAMPION}
    assert {route(i, 1.0, False) for i in ids[:100]} == {CHAMPION}  # no challenger loaded
    assert {route(i, 1.0, True) for i in ids[:100]} == {CHALLENGER}


def follower(aliases: dict[str, str], loaded: list[str], broken: set[str]) -> Follower:
    def load(name: str, version: str) -> ServedModel:
        if version in broken:
            raise ValueError(f"version {version} is broken")
        loaded.append(version)
        return served(version)

    scorers = {CHAMPION: Scorer(CHAMPION, 8), CHALLENGER: Scorer(CHALLENGER, 8)}
    roles = {CHAMPION: "champion", CHALLENGER: "challenger"}
    return Follower("m", roles, scorers, 1.0, load, lambda name: dict(aliases))


def test_the_follower_loads_on_a_move_and_keeps_the_old_version_on_failure() -> None:
    aliases = {"champion": "1", "challenger": "2"}
    loaded: list[str] = []
    broken = {"3"}
    watcher = follower(aliases, loaded, broken)

    watcher.poll()
    watcher.poll()  # nothing moved: nothing loaded again
    aliases["champion"] = "3"
    watcher.poll()
    champion = watcher.scorers[CHAMPION].served

    assert loaded == ["1", "2"]
    assert champion is not None and champion.version == "1"
    assert watcher.last_error == "loading m v3 failed: ValueError('version 3 is broken')"
    aliases["champion"] = "2"  # the challenger won: nothing else to try
    watcher.poll()
    assert watcher.scorers[CHAMPION].served.version == "2"  # type: ignore[union-attr]
    assert watcher.scorers[CHALLENGER].served is None
    del aliases["champion"]  # the alias was deleted by hand: keep answering
    watcher.poll()
    assert watcher.scorers[CHAMPION].served.version == "2"  # type: ignore[union-attr]
    assert watcher.swaps == [("champion", None, "1"), ("challenger", None, "2"),
                             ("champion", "1", "2")]  # fmt: skip


def test_requests_that_wait_are_scored_in_one_call() -> None:
    scorer = Scorer(CHAMPION, max_batch_rows=5)
    scorer.install(served("4", p=0.7))
    model = scorer.served.model  # type: ignore[union-attr]

    async def send() -> list[Any]:
        requests = [Parsed({"x": [float(i)] * 2}, 2) for i in range(4)]
        return await asyncio.gather(*(scorer.score(r) for r in requests))

    answers = asyncio.run(send())

    # four requests of 2 rows wait together; 5 rows at most per call: 2 + 2, then 2 + 2
    assert model.calls == [4, 4]
    assert [a.predictions for a in answers] == [[1, 1]] * 4
    assert [a.probabilities for a in answers] == [[[0.30000000000000004, 0.7]] * 2] * 4
    assert {a.served.version for a in answers} == {"4"}
    scorer.close()


def test_a_request_given_up_while_waiting_is_neither_scored_nor_counted() -> None:
    scorer = Scorer(CHAMPION, max_batch_rows=100)
    scorer.install(served("4"))
    counted: list[int] = []
    scorer.on_batch = counted.append
    model = scorer.served.model  # type: ignore[union-attr]

    async def send() -> list[Any]:
        tasks = [asyncio.create_task(scorer.score(Parsed({"x": [1.0] * n}, n))) for n in (2, 3, 5)]
        await asyncio.sleep(0)  # all three wait; the scoring has not started
        tasks[1].cancel()  # as a timeout does
        return await asyncio.gather(*tasks, return_exceptions=True)

    first, given_up, last = asyncio.run(send())

    assert model.calls == [7] and counted == [7]  # 2 + 5 rows; the 3 given up are left out
    assert isinstance(given_up, asyncio.CancelledError)
    assert (len(first.predictions), len(last.predictions)) == (2, 5)
    scorer.close()


def fitted_pipeline() -> Any:
    """A real scikit-learn Pipeline that raises on a device it never saw (handle_unknown)."""
    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
                          "device": ["tv", "pc", "tv", "pc", "tv", "pc"]})  # fmt: skip
    encode = ColumnTransformer(
        [("device", OneHotEncoder(handle_unknown="error"), ["device"])], remainder="passthrough"
    )
    model = Pipeline([("encode", encode), ("classify", LogisticRegression())])
    return model.fit(frame, np.array([0, 0, 0, 1, 1, 1]))


def test_a_request_that_makes_the_model_raise_fails_alone_in_its_batch() -> None:
    import pandas as pd

    model = fitted_pipeline()
    signature = (Column("x", "double", True), Column("device", "string", True))
    scorer = Scorer(CHAMPION, max_batch_rows=100)
    scorer.install(ServedModel("m", "7", model, signature, (0, 1), "binary", 0.5, "run", "md5", {}))
    calls: list[int] = []
    scorer.on_batch = calls.append
    devices = [["tv"], ["pc", "tv"], ["phone"], ["pc"], ["tv", "tv", "pc"]]  # "phone": unseen

    async def send() -> list[Any]:
        requests = [
            Parsed({"x": [float(i)] * len(d), "device": d}, len(d)) for i, d in enumerate(devices)
        ]
        return await asyncio.gather(*(scorer.score(r) for r in requests), return_exceptions=True)

    answers = asyncio.run(send())

    failed = answers[2]
    assert isinstance(failed, ValueError)
    assert str(failed).startswith("Found unknown categories ['phone'] in column 0")
    for index in (0, 1, 3, 4):
        rows = pd.DataFrame({"x": [float(index)] * len(devices[index]), "device": devices[index]})
        expected = model.predict_proba(rows).tolist()
        assert answers[index].probabilities == expected, index
        assert answers[index].predictions == [int(p[1] >= 0.5) for p in expected]
    # the 8 rows in one call fail; the first half (requests 0-1: 3 rows) answers, the second
    # (2-4) fails, then its request 2 fails alone and 3-4 (4 rows) answer: the calls that
    # answered are the ones counted
    assert calls == [3, 4]
    scorer.close()


def test_rows_past_the_pending_limit_are_refused_as_busy() -> None:
    from serving.engine import Busy

    scorer = Scorer(CHAMPION, max_batch_rows=100, max_pending_rows=6)
    scorer.install(served("4"))

    async def send() -> list[Any]:
        first = [asyncio.create_task(scorer.score(Parsed({"x": [1.0] * 3}, 3))) for _ in range(2)]
        await asyncio.sleep(0)  # both wait: 6 rows pending
        with pytest.raises(Busy) as caught:
            await scorer.score(Parsed({"x": [1.0]}, 1))
        assert str(caught.value) == (
            "6 rows wait to be scored; 1 more would pass the limit of 6 "
            "(serve.max_pending_rows): retry later"
        )
        done = await asyncio.gather(*first)
        after = await scorer.score(Parsed({"x": [1.0] * 6}, 6))  # drained: room again
        return [*done, after]

    answers = asyncio.run(send())

    assert [len(a.predictions) for a in answers] == [3, 3, 6]
    assert scorer.pending_rows == 0
    scorer.close()
