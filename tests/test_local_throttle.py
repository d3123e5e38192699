"""The local stack's throttling switch refuses exactly the share of calls it is set to."""

from __future__ import annotations

import pytest

from whisper_async.local.throttle import Throttles


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25, 0.5, 0.9])
def test_the_share_refused_is_the_fraction_set_for_that_endpoint_only(fraction: float) -> None:
    throttles = Throttles()
    throttles.set("busy", fraction)
    refused = sum(throttles.refuse("busy") for _ in range(1000))
    assert refused == round(1000 * fraction)
    assert not any(throttles.refuse("other") for _ in range(100))
    assert throttles.describe("busy")["throttled"] == refused


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 2.0])
def test_a_fraction_that_would_refuse_everything_or_nothing_sensible_is_refused(
    fraction: float,
) -> None:
    with pytest.raises(ValueError, match="fraction"):
        Throttles().set("busy", fraction)
