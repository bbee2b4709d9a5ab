"""Request validation against a release's feature schema (no Django: this runs on the serving hosts).

Every feature of the manifest is checked on every request, whether it came as named records (the agent's JSON
route) or as tensors (Open Inference Protocol v2, JSON or binary): its type, presence, finiteness, range and
category. A refusal is a :class:`RequestInvalid` that names the feature, the rule and the record, and becomes a
4xx answer in the agent's error shape. Nothing that fails here reaches ONNX Runtime, the prediction log or the
drift windows.

Rules (``rule`` in the error): ``missing_feature``, ``unknown_feature``, ``wrong_type``, ``missing_value``,
``not_finite``, ``below_min``, ``above_max``, ``unknown_category``, ``wrong_shape``.
"""

from __future__ import annotations

import itertools
import math
import operator

import msgspec
import numpy as np

from kernels.columns import within
from serving.agent.manifest import Feature, Manifest


class RequestInvalid(Exception):
    """A request the agent refuses; ``status`` is the HTTP status, the rest goes into the error body."""

    def __init__(self, message: str, *, code: str = "invalid_request", status: int = 422, feature: str | None = None,
                 rule: str | None = None, record: int | None = None, retry_after: int | None = None):
        super().__init__(message)
        self.message, self.code, self.status = message, code, status
        self.feature, self.rule, self.record = feature, rule, record
        self.retry_after = retry_after  # seconds, sent as Retry-After

    def body(self) -> dict:
        details = {"rule": self.rule, "record": self.record} if self.rule else None
        return {"error": {"code": self.code, "message": self.message, "field": self.feature, "details": details}}


def too_deep() -> RequestInvalid:
    """A body nested past what a decoder follows (every JSON decoder here stops at a depth): a request error."""
    return RequestInvalid("The body is nested too deeply to be a request.", code="invalid_request", status=400)


def _invalid(feature: Feature, rule: str, message: str, record: int | None) -> RequestInvalid:
    where = f" (record {record})" if record is not None else ""
    return RequestInvalid(f"Feature '{feature.name}'{where}: {message}", code="invalid_feature", feature=feature.name,
                          rule=rule, record=record)


_NUMERIC = (int, float)


class Schema:
    """The manifest's features compiled for fast checks: one instance per loaded release."""

    def __init__(self, manifest: Manifest):
        self.features = manifest.features
        self.names = [f.name for f in manifest.features]
        self.index = {name: i for i, name in enumerate(self.names)}
        self.width = len(self.names)
        self.layout = manifest.layout
        self._categories = [None if f.categories is None else {str(c) for c in f.categories} for f in self.features]
        self._lo = np.array([-np.inf if f.min is None else f.min for f in self.features], dtype=np.float64)
        self._hi = np.array([np.inf if f.max is None else f.max for f in self.features], dtype=np.float64)
        self._numeric = [f.type in ("float", "int") for f in self.features]
        self.all_numeric = all(self._numeric) and not any(c is not None for c in self._categories)
        # The common case of a tensor model (floats only, no nulls, no categories) gets one tight loop.
        self._plain = [(f.name, -math.inf if f.min is None else f.min, math.inf if f.max is None else f.max,
                        f.type == "int") for f in self.features]
        self._any_nullable = any(f.nullable for f in self.features)
        self._any_int = any(f.type == "int" for f in self.features)
        self._int_columns = [i for i, f in enumerate(self.features) if f.type == "int"]
        self._category_columns = [i for i, c in enumerate(self._categories) if c is not None]
        self._los = [lo for _n, lo, _h, _i in self._plain]
        self._his = [hi for _n, _l, hi, _i in self._plain]
        self._gather = operator.itemgetter(*self.names) if self.width > 1 else (lambda r: (r[self.names[0]],))
        self._batch = None  # the typed decoder of JSON route batches, built at the first large request

    # ------------------------------------------------------------------ named records (JSON route)

    def record_row(self, record, number: int | None = None) -> list:
        """One record (a dict of feature -> value) checked and returned as a row in schema order."""
        if not isinstance(record, dict):
            raise RequestInvalid(f"Record{'' if number is None else f' {number}'} is not an object of named "
                                 "features.", code="invalid_record", record=number)
        if self.all_numeric and not self._any_nullable:
            if len(record) != self.width:  # a key more or less: name it (same length means same names below)
                self._names_check(record, number)
            row = []
            for (name, lo, hi, integer), feature in zip(self._plain, self.features, strict=True):
                try:
                    value = record[name]
                except KeyError:
                    raise _invalid(feature, "missing_feature", "missing from the record.", number)
                kind = type(value)
                if kind is float:
                    if value - value or not (lo <= value <= hi):  # x - x is 0.0 for a finite x, NaN otherwise
                        raise self._bad_number(feature, value, number)
                    if integer and not value.is_integer():
                        raise _invalid(feature, "wrong_type", f"expects an integer, got {value!r}.", number)
                elif kind is int:
                    if not (lo <= value <= hi):
                        raise self._bad_number(feature, float(value), number)
                else:
                    raise self._bad_type(feature, value, number)
                row.append(value)
            return row
        self._names_check(record, number)
        return [self._value_check(feature, record[feature.name], number) for feature in self.features]

    def row_check(self, row: list, number: int) -> None:
        """One row of a tensor sent as JSON numbers, in schema order (a few rows: cheaper than numpy)."""
        if not self.all_numeric or self._any_int:
            self.matrix_check(np.array([row], dtype=np.float64))
            return
        for value, lo, hi in zip(row, self._los, self._his, strict=True):
            if value - value or not (lo <= value <= hi):  # NaN and infinities fail the first test
                index = next(i for i, (v, a, b) in enumerate(zip(row, self._los, self._his, strict=True))
                             if v - v or not (a <= v <= b))
                raise self._bad_number(self.features[index], float(row[index]), number)

    def rows_from_records(self, records: list) -> tuple[list | None, np.ndarray | None]:
        """Many records at once: ``(rows, None)`` checked one by one for a few records or any schema with nulls,
        strings or categories; ``(None, matrix)`` for a batch of plain numbers, gathered in one pass and checked
        vectorised. The refusals are the same either way."""
        if len(records) < 16 or not self.all_numeric or self._any_nullable:
            return [self.record_row(record, number) for number, record in enumerate(records)], None
        gather = self._gather
        try:
            rows = [gather(record) for record in records]
            if any(len(record) != self.width for record in records):
                raise KeyError
        except (KeyError, TypeError):  # a missing, unknown or misplaced name: the slow path names it
            return [self.record_row(record, number) for number, record in enumerate(records)], None
        for number, row in enumerate(rows):
            for value in row:
                kind = type(value)
                if kind is not float and kind is not int:
                    self.record_row(records[number], number)  # raises, naming the feature
        matrix = np.array(rows, dtype=np.float64)
        self.matrix_check(matrix)
        return None, matrix

    def batch(self, data: bytes) -> tuple[np.ndarray, bool] | None:
        """A JSON route body of many records of plain numbers (no nulls, strings or categories) as a checked
        matrix, and its explain flag: decoded straight into typed records, one per row, which is twice as fast as
        dictionaries and then gathering. None for anything else (fewer than 16 records, a missing, unknown or
        mistyped value, a number out of range, no records at all): the general path then reads it and names what
        is wrong, so the refusals are the same either way."""
        if self._batch is None:
            if not self.all_numeric or self._any_nullable or not self.width:
                return None
            attributes = [f"f{i}" for i in range(self.width)]
            record = msgspec.defstruct("Record", [(a, float) for a in attributes], forbid_unknown_fields=True,
                                       gc=False, rename=dict(zip(attributes, self.names, strict=True)))
            body = msgspec.defstruct("Batch", [("records", list[record] | None, None), ("explain", bool, False)])
            self._batch = msgspec.json.Decoder(body)
        try:
            body = self._batch.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            return None
        if body.records is None or len(body.records) < 16:
            return None
        values = itertools.chain.from_iterable(map(msgspec.structs.astuple, body.records))
        matrix = np.fromiter(values, dtype=np.float64, count=len(body.records) * self.width)
        matrix = matrix.reshape(len(body.records), self.width)
        self.matrix_check(matrix)
        return matrix, body.explain

    def _names_check(self, record: dict, number: int | None) -> None:
        for name in record:
            if name not in self.index:
                raise RequestInvalid(f"Feature '{name}'{'' if number is None else f' (record {number})'}: not in "
                                     f"the model's schema.", code="invalid_feature", feature=str(name)[:200],
                                     rule="unknown_feature", record=number)
        for feature in self.features:
            if feature.name not in record:
                raise _invalid(feature, "missing_feature", "missing from the record.", number)

    def _bad_number(self, feature: Feature, value: float, number: int | None) -> RequestInvalid:
        if math.isnan(value) or math.isinf(value):
            return _invalid(feature, "not_finite", f"{value!r} is not a finite number.", number)
        if feature.min is not None and value < feature.min:
            return _invalid(feature, "below_min", f"{value!r} is below the minimum {feature.min!r}.", number)
        return _invalid(feature, "above_max", f"{value!r} is above the maximum {feature.max!r}.", number)

    def _bad_type(self, feature: Feature, value, number: int | None) -> RequestInvalid:
        if value is None:
            return _invalid(feature, "missing_value", "is null and the feature is not nullable.", number)
        return _invalid(feature, "wrong_type", f"expects {feature.type}, got {_type_name(value)}.", number)

    def _value_check(self, feature: Feature, value, number: int | None):
        if value is None:
            if feature.nullable:
                return None
            raise self._bad_type(feature, value, number)
        kind = feature.type
        if kind in ("float", "int"):
            if type(value) not in _NUMERIC:
                raise self._bad_type(feature, value, number)
            number_value = float(value)
            if math.isnan(number_value) or math.isinf(number_value):
                raise self._bad_number(feature, number_value, number)
            if kind == "int" and not number_value.is_integer():
                raise _invalid(feature, "wrong_type", f"expects an integer, got {value!r}.", number)
            if (feature.min is not None and number_value < feature.min) or (
                    feature.max is not None and number_value > feature.max):
                raise self._bad_number(feature, number_value, number)
        elif kind == "bool":
            if type(value) is not bool:
                raise self._bad_type(feature, value, number)
        elif type(value) is not str:
            raise self._bad_type(feature, value, number)
        allowed = self._categories[self.index[feature.name]]
        if allowed is not None and str(value) not in allowed:
            shown = value if len(str(value)) <= 80 else f"{str(value)[:80]}…"
            raise _invalid(feature, "unknown_category", f"{shown!r} is not one of its {len(allowed)} categories.",
                           number)
        return value

    # ------------------------------------------------------------------ tensors (OIP v2)

    def matrix_check(self, matrix: np.ndarray) -> None:
        """A ``[N, width]`` numeric matrix (the tensor layout) checked column by column, vectorised."""
        if matrix.ndim != 2 or matrix.shape[1] != self.width:
            raise RequestInvalid(f"Expected a tensor of shape [N, {self.width}], got {list(matrix.shape)}.",
                                 code="invalid_tensor", rule="wrong_shape")
        if matrix.dtype.kind not in "fiu":
            raise RequestInvalid(f"Expected numbers, got {matrix.dtype}.", code="invalid_tensor", rule="wrong_type")
        # Each column's least and greatest value in one compiled pass: when they are finite and in range and no value
        # is NaN, every value is; otherwise the first bad value in row order is found and named.
        if not within(matrix, self._lo, self._hi):
            values = matrix.astype(np.float64, copy=False)
            bad = ~(np.isfinite(values) & (values >= self._lo) & (values <= self._hi))
            row, column = (int(i) for i in np.argwhere(bad)[0])
            raise self._bad_number(self.features[column], float(values[row, column]), row)
        columns = matrix.T if self._int_columns or self._category_columns else None
        for column in self._int_columns:
            values = columns[column]
            if not np.all(np.mod(values, 1) == 0):
                row = int(np.argmax(np.mod(values, 1) != 0))
                raise _invalid(self.features[column], "wrong_type", f"expects an integer, got {float(values[row])!r}.",
                               row)
        for column in self._category_columns:
            allowed = self._categories[column]
            for row, value in enumerate(columns[column].astype(np.float64).tolist()):
                text = str(int(value)) if float(value).is_integer() else str(value)
                if text not in allowed and str(value) not in allowed:
                    raise _invalid(self.features[column], "unknown_category",
                                   f"{value!r} is not one of its categories.", row)

    def column_check(self, feature: Feature, column: np.ndarray | list) -> list | np.ndarray:
        """One feature's values (the columns layout): numbers vectorised, other types value by value."""
        if isinstance(column, np.ndarray) and column.dtype.kind in "fiub" and feature.type in ("float", "int"):
            if column.dtype.kind == "b":
                raise _invalid(feature, "wrong_type", f"expects {feature.type}, got booleans.", 0)
            values = column.astype(np.float64, copy=False)
            lo = -np.inf if feature.min is None else feature.min
            hi = np.inf if feature.max is None else feature.max
            bad = ~(np.isfinite(values) & (values >= lo) & (values <= hi))
            if bad.any():
                row = int(np.argmax(bad))
                raise self._bad_number(feature, float(values[row]), row)
            if feature.type == "int" and not np.all(np.mod(values, 1) == 0):
                row = int(np.argmax(np.mod(values, 1) != 0))
                raise _invalid(feature, "wrong_type", f"expects an integer, got {values[row]!r}.", row)
            if self._categories[self.index[feature.name]] is None:
                return column
            column = column.tolist()
        values = column.tolist() if isinstance(column, np.ndarray) else column
        if feature.type == "string":
            values = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values]
        return [self._value_check(feature, value, row) for row, value in enumerate(values)]


def _type_name(value) -> str:
    return {bool: "a boolean", str: "a string", list: "a list", dict: "an object", int: "an integer",
            float: "a number"}.get(type(value), type(value).__name__)
