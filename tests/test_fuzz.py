"""Property-based fuzzing of the loaders (a fast sample of ``benchmarks/fuzz.py``).

For mutated dataset artifacts, checkpoints, Fashion-MNIST IDX folders and released
CIFAR_ims / CIFAR_lab folders, every loader call ends in a one-line AdvlabError or in
data that an independent reader confirms (``benchmarks/fuzzcheck.py``); malicious pickle
payloads planted in place of any of these files never run.
"""

from __future__ import annotations

import random
import sys
import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import fuzzcases  # noqa: E402
import fuzzpayloads  # noqa: E402
from fuzzcheck import judge  # noqa: E402

OK = ("clean_error", "correct_data", "mixed")
pytestmark = pytest.mark.usefixtures("one_thread")

cases = st.sampled_from(fuzzcases.FORMATS).flatmap(
    lambda fmt: st.tuples(st.just(fmt), st.sampled_from(fuzzcases.APPLIES[fmt]), st.integers(0, 2**31 - 1)))


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(cases)
def test_mutated_inputs_end_in_a_clean_error_or_correct_data(case: tuple[str, str, int]) -> None:
    fmt, mutator, seed = case
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. torch's beta warning for sparse CSR seeds
        d, what = fuzzcases.build_case(fmt, mutator, seed, Path(tmp))
        outcome, detail = judge(fmt, d, long_name="fs:longname" in what)
    assert outcome in OK, f"{fmt} {what}: {outcome}: {detail}"


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(fuzzpayloads.cases()), st.integers(0, 2**31 - 1))
def test_pickle_payloads_never_run(payload: tuple[str, str, str], seed: int) -> None:
    kind, wrapping, target = payload
    fmt = fuzzpayloads.TARGETS[target]
    with tempfile.TemporaryDirectory() as tmp:
        marker = Path(tmp) / "marker"
        d = fuzzcases.seed_folder(fmt, random.Random(seed), Path(tmp) / "case")
        fuzzpayloads.plant(d, target, fuzzpayloads.wrap(fuzzpayloads.payload(kind, marker), wrapping))
        outcome, detail = judge(fmt, d)
        assert not marker.exists(), f"{kind} in {wrapping} as {target} ran"
    assert outcome in ("clean_error", "mixed"), detail


def test_the_payloads_are_live(tmp_path: Path) -> None:
    """The control: read the unsafe way, every callable in every wrapping fires."""
    for kind in fuzzpayloads.CALLABLES:
        for wrapping in ("pickle0", "pickle5", "torch_legacy", "torch_dict", "numpy_object"):
            marker = tmp_path / f"{kind}-{wrapping}"
            fuzzpayloads.control(fuzzpayloads.wrap(fuzzpayloads.payload(kind, marker), wrapping), wrapping)
            assert marker.exists(), (kind, wrapping)


def test_unmutated_seeds_load_as_correct_data(tmp_path: Path) -> None:
    for i, fmt in enumerate(fuzzcases.FORMATS * 3):
        d, _ = fuzzcases.build_case(fmt, "none", i, tmp_path / str(i))
        outcome, detail = judge(fmt, d)
        assert outcome in ("correct_data", "mixed"), (fmt, outcome, detail)  # mixed: no test split
