"""The API's rule for an upload's `work` and the analysis' `--work UNIT=VALUE` rule are one
rule written twice (the packages never import each other): the same cases, the same answers."""

from __future__ import annotations

import pytest

from analysis_module.pipeline_core.work import WorkSpecError, parse_work_spec
from api_backend.core.errors import Unprocessable
from api_backend.core.work import MAX_CHARS, check_work

# Printable ASCII of at most MAX_CHARS characters: what both sides must answer alike.
CASES = [
    "GFLOP/s=1234",
    "GFLOP/s=1234.5",
    "GB/s=180",
    "TFLOP/s=1.5e1",
    "gflop=0",
    " GFLOP/s = 12 ",
    "MB/s=+7",
    "GFLOP/s=1_000",
    "u=.5",
    "x" * 32 + "=1",
    "x" * 33 + "=1",
    "Mem%=3",
    "GFLOP/s",
    "GFLOP/s=",
    "=12",
    "9GFLOP=1",
    "GF LOP=1",
    "GFLOP/s=fast",
    "GFLOP/s=0x10",
    "GFLOP/s=-1",
    "GFLOP/s=-0.5",
    "GFLOP/s=inf",
    "GFLOP/s=nan",
    "GFLOP/s=1e999",
    "GFLOP/s=1=2",
    "",
]


def api(text: str):
    try:
        return ("ok", parse_work_spec(check_work(text)))
    except Unprocessable as exc:
        return ("refused", exc.detail)


def analysis(text: str):
    try:
        return ("ok", parse_work_spec(text))
    except WorkSpecError as exc:
        return ("refused", str(exc))


@pytest.mark.parametrize("text", CASES)
def test_the_api_and_the_analysis_answer_alike(text):
    assert len(text) <= MAX_CHARS and text.isascii() and text.isprintable()
    assert api(text) == analysis(text)


def test_both_accept_and_refuse_some_of_the_cases():
    answers = [analysis(text)[0] for text in CASES]
    assert answers.count("ok") >= 8 and answers.count("refused") >= 10


@pytest.mark.parametrize("text", ["GFLOP/s=12\n", "GFLOP/s=\t12", "GB/s=١٢", "u=" + "1" * 200])
def test_the_api_also_asks_what_a_header_can_carry(text):
    assert api(text) == (
        "refused",
        f"work must be at most {MAX_CHARS} printable ASCII characters",
    )
