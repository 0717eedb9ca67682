"""Every error in exceptions.py survives pickle: same class, message and attributes.

Python rebuilds an exception as ``cls(*args)``: keyword-only constructors (``GeminiApiError``,
``GeminiBatchFailedError``, ``GeminiInputFileError``) could not be unpickled, and an error that
composes its message from its arguments came back with the message composed twice.
"""

from __future__ import annotations

import inspect
import pickle
from typing import Any

import pytest

from airflow_provider_gemini_batch import exceptions

#: Constructor arguments for errors that do not take a lone message.
SPECIAL: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
    "GeminiInputFileError": (
        ("not valid JSON",),
        {"path": "/data/in.jsonl", "line_number": 3, "key": "k1", "field": "request.contents"},
    ),
    "GeminiTransportError": (("connection refused",), {"sent": False, "timed_out": True}),
    "UnknownBatchStateError": (("BATCH_STATE_NEW",), {"batch_name": "batches/abc"}),
    "GeminiBudgetExceededError": (
        ("the estimated cost 2.0 USD is above max_cost 1.0 USD",),
        {"estimate": {"total": 2.0, "currency": "USD", "max_cost": 1.0}},
    ),
    "GeminiBatchStuckError": (
        ("Batch batches/abc was still PENDING.",),
        {"batch_name": "batches/abc", "pending_seconds": 21600.5, "policy": "fail"},
    ),
    "GeminiBatchFailedError": (
        ("Batch batches/abc ended FAILED.",),
        {"batch_name": "batches/abc", "state": "FAILED", "summary": {"state": "FAILED", "stats": {"n": 1}}},
    ),
}
API_ERROR_KWARGS: dict[str, Any] = {
    "http_status": 404,
    "status": "NOT_FOUND",
    "message": "Requested entity was not found.",
    "resource": "batches/abc",
    "method": "Getting batches/abc",
    "reason": "NOT_FOUND_REASON",
    "retry_after": 2.5,
    "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo"}],
    "hint": "Check the connection.",
}


def _error_classes() -> list[type[BaseException]]:
    return [
        cls
        for _, cls in inspect.getmembers(exceptions, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == exceptions.__name__
    ]


def _build(cls: type[BaseException]) -> BaseException:
    if cls.__name__ in SPECIAL:
        args, kwargs = SPECIAL[cls.__name__]
        return cls(*args, **kwargs)
    if issubclass(cls, exceptions.GeminiApiError):
        return cls(**API_ERROR_KWARGS)
    return cls("Something went wrong with batches/abc.")


def test_every_error_class_is_covered() -> None:
    """A new error with a constructor this test cannot call fails here, not silently."""
    classes = _error_classes()
    assert len(classes) >= 15
    for cls in classes:
        _build(cls)


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: c.__name__)
def test_error_round_trips_through_pickle(cls: type[BaseException]) -> None:
    error = _build(cls)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert str(copy) == str(error)
    assert copy.args == error.args
    assert vars(copy) == vars(error)
    # A second trip changes nothing (the message is never composed again).
    assert str(pickle.loads(pickle.dumps(copy))) == str(error)
