"""Fixtures shared by the tests of `dais_keras.select`."""

import pytest


@pytest.fixture(scope="session")
def strict_then_best_effort():
    """`check(fn, match, *args, **kwargs)`: `fn` raises a `ValueError`
    matching `match` by default, and with `best_effort=True` warns the same
    and returns a report that says so; returns that report."""

    def check(fn, match, *args, **kwargs):
        with pytest.raises(ValueError, match=match):
            fn(*args, **kwargs)
        with pytest.warns(UserWarning, match=match):
            out = fn(*args, best_effort=True, **kwargs)
        report = out[1] if isinstance(out, tuple) else out
        assert report.best_effort and not report.met
        assert "WARNING (best effort, above the budget)" in report.summary()
        assert report.as_dict()["met"] is False
        return out

    return check
