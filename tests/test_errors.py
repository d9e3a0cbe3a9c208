"""The exception hierarchy: stable, unique codes; readable messages; one root."""

from __future__ import annotations

import inspect

import pytest

from crowdalpha import errors


def _error_classes() -> list[type[errors.CrowdAlphaError]]:
    return [
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, errors.CrowdAlphaError)
    ]


def test_every_error_has_a_unique_snake_case_code() -> None:
    classes = _error_classes()
    codes = [cls.code for cls in classes]
    assert len(classes) == len(errors.__all__)
    assert len(set(codes)) == len(codes)
    for code in codes:
        assert code == code.lower() and " " not in code and code.replace("_", "").isalpha()


def test_every_error_is_drawn_in_the_module_docstring_tree() -> None:
    doc = errors.__doc__ or ""
    for cls in _error_classes():
        assert f"{cls.__name__}" in doc and cls.code in doc


def test_input_errors_are_value_errors_and_carry_details() -> None:
    exc = errors.NotEnoughOverlapError("targets lost too many ids", details={"overlapping": 3})
    assert isinstance(exc, ValueError)
    assert isinstance(exc, errors.ScoringInputError)
    assert str(exc) == "not_enough_overlapping_ids: targets lost too many ids"
    assert exc.to_dict() == {
        "code": "not_enough_overlapping_ids",
        "message": "targets lost too many ids",
        "details": {"overlapping": 3},
    }


@pytest.mark.parametrize(
    "cls",
    [
        errors.NotFoundError,
        errors.ConflictError,
        errors.AuthenticationError,
        errors.PermissionDeniedError,
        errors.LimitExceededError,
    ],
)
def test_non_input_errors_are_not_value_errors(cls: type[errors.CrowdAlphaError]) -> None:
    assert not issubclass(cls, ValueError)
    assert issubclass(cls, errors.CrowdAlphaError)
