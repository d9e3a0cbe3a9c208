"""Stage 3: the closed form is exactly neutral, at gross and within caps; checks bite."""

from __future__ import annotations

import numpy as np
import pytest

from crowdalpha.errors import FundConstraintError
from crowdalpha.fund.construct import Limits, check_book, neutral_capped


def _problem(
    seed: int, n: int = 400, k: int = 6, sectors: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    styles = rng.standard_normal((n, k))
    sector = rng.integers(0, sectors, n)
    dummies = (sector[:, None] == np.arange(sectors)[None, :]).astype(float)
    x = np.hstack([np.ones((n, 1)), styles, dummies])  # rank-deficient on purpose
    return x, rng.standard_normal(n)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("cap", [0.05, 0.006, 0.004])
def test_closed_form_is_neutral_at_gross_within_caps(seed: int, cap: float) -> None:
    x, z = _problem(seed)
    caps = np.full(z.size, cap)
    caps[:40] = cap / 4  # some illiquid names
    lim = Limits(caps=caps, gross=1.0, gross_wanted=1.0)
    w = neutral_capped(z, x, lim)
    diag = check_book(w, x, lim, method="closed_form")
    assert diag["max_abs_exposure"] < 1e-9
    assert abs(w.sum()) < 1e-12
    assert np.all(np.abs(w) <= caps * (1 + 1e-9))
    assert diag["gross"] == pytest.approx(1.0, rel=1e-9) or diag["gross"] < 1.0
    # The book points the way of the scores (most of their ranking survives).
    assert np.corrcoef(w, z)[0, 1] > 0.5


def test_without_binding_caps_it_is_the_scaled_projection() -> None:
    x, z = _problem(7)
    lim = Limits(caps=np.full(z.size, 1.0), gross=2.0, gross_wanted=2.0)
    w = neutral_capped(z, x, lim)
    resid = z - x @ np.linalg.lstsq(x, z, rcond=None)[0]  # least squares: an independent route
    assert np.allclose(w, 2.0 * resid / np.abs(resid).sum(), atol=1e-12)


def test_when_caps_cannot_be_offset_gross_falls_instead() -> None:
    x, z = _problem(3, n=60, k=2, sectors=3)
    caps = np.full(z.size, 0.01)  # Σcaps = 0.6: a gross of 1 cannot be reached
    lim = Limits(caps=caps, gross=0.3, gross_wanted=1.0)
    w = neutral_capped(z, x, lim)
    diag = check_book(w, x, lim, method="closed_form")
    assert diag["max_abs_exposure"] < 1e-9 and diag["gross"] <= 0.3 + 1e-12


@pytest.mark.parametrize(
    ("broken", "words"),
    [("net", "net exposure"), ("gross", "gross"), ("cap", "cap"), ("exposure", "risk exposure")],
)
def test_every_violation_fails_the_book(broken: str, words: str) -> None:
    x, z = _problem(1)
    lim = Limits(caps=np.full(z.size, 0.02), gross=1.0, gross_wanted=1.0)
    w = neutral_capped(z, x, lim)
    if broken == "net":
        w = w + 1e-4 / z.size
    elif broken == "gross":
        w = w * 1.01
    elif broken == "cap":
        w[np.argmax(np.abs(w))] *= 0.02 * 1.01 / np.abs(w).max()
    else:
        w = w + 1e-5 * (x[:, 1] - x[:, 1].mean()) / np.abs(x[:, 1]).sum()
    with pytest.raises(FundConstraintError, match=words):
        check_book(w, x, lim, method="closed_form")
