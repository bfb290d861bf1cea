"""YAML data files validated by pydantic models, with problems reported as
`file:line: problem`.

    data = read_yaml(path)                          # DataFileError on bad YAML
    profile = validate(PartnerProfile, data, path)  # DataFileError listing problems

The files are read with ruamel.yaml's round-trip loader, which remembers the line of
every key and list item; a pydantic error's location (`("staff", 2, "role")`) is
walked through the loaded data to find the line it points at. YAML 1.2 is the
dialect: `on`, `no` and `07:00` are strings, not booleans or sexagesimal numbers.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, TypeVar, Union

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

ModelT = TypeVar("ModelT", bound=BaseModel)
Location = tuple[Union[str, int], ...]


@dataclass(frozen=True)
class Problem:
    """One problem in a data file, at a line (None when the file cannot be read)."""

    file: str
    line: Optional[int]
    message: str

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}: {self.message}"


class DataFileError(ValueError):
    """A data file that cannot be used; `problems` says where and why."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0))
        super().__init__("\n".join(str(problem) for problem in self.problems))


def display_name(path: Union[str, Path]) -> str:
    """`path` as the user will recognise it: relative to the working directory when
    it is inside it."""
    candidate = Path(path)
    try:
        return str(candidate.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def parse_yaml(text: str, name: str) -> Any:
    """The YAML document in `text` (`name` is the file it came from, for messages).

    Raises:
        DataFileError: The text is not YAML, or holds a key twice.
    """
    try:
        return _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or exc.context or "not valid YAML"
        if what.startswith("found duplicate key"):
            what = what.split(" with value", 1)[0]
        elif exc.context and exc.context_mark and exc.context_mark is not mark:
            # An unclosed bracket or quote is found where the next token fails:
            # say where it was opened.
            what += f" ({exc.context} started on line {exc.context_mark.line + 1})"
        raise DataFileError([Problem(name, line, f"YAML: {what}")]) from None
    except YAMLError as exc:
        raise DataFileError([Problem(name, None, f"YAML: {exc}")]) from None


def read_yaml(path: Union[str, Path]) -> Any:
    """The YAML document in the file at `path`.

    Raises:
        DataFileError: The file cannot be read, is not UTF-8 or is not YAML.
    """
    name = display_name(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise DataFileError(
            [Problem(name, None, f"cannot read: {exc.strerror}")]
        ) from None
    except UnicodeDecodeError:
        raise DataFileError([Problem(name, None, "not a UTF-8 text file")]) from None
    return parse_yaml(text, name)


def line_of(data: Any, loc: Location) -> int:
    """The line (1-based) that `loc` points at in data from `parse_yaml`.

    Parts of `loc` that are not in the data (a union member's name, a missing key)
    are skipped, so a missing field is reported at the line of its parent.
    """
    line = 1
    node = data
    for part in loc:
        if isinstance(node, CommentedMap) and isinstance(part, str) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif (
            isinstance(node, CommentedSeq)
            and isinstance(part, int)
            and 0 <= part < len(node)
        ):
            line = node.lc.item(part)[0] + 1
            node = node[part]
    return line


def dotted(loc: Location) -> str:
    """`("staff", 2, "role")` -> `staff[2].role`."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _kind(value: Any) -> str:
    """What a YAML value is, in the words of a YAML file's author."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    context = error.get("ctx") or {}
    if kind == "missing":
        return "required field is missing"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        if error["input"] is None:
            return "empty: expected a mapping of fields (name: value)"
        return (
            f"expected a mapping of fields (name: value), not {_kind(error['input'])}"
        )
    if kind in ("enum", "literal_error"):
        return f"{error['input']!r} is not one of {context.get('expected', '')}"
    if kind == "value_error":
        return str(context.get("error") or error["msg"])
    if kind == "assertion_error":
        return str(error["msg"]).removeprefix("Assertion failed, ")
    return str(error["msg"])


def error_message(error: ErrorDetails) -> str:
    """One pydantic error in the words of a data file's author (no location)."""
    return _message(error)


def _model_in(annotation: Any) -> tuple[Optional[type[BaseModel]], bool]:
    """The model an annotation holds (in a list, an Optional, a dict's values), and
    whether a dict key comes before it in an error's location."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    keyed = typing.get_origin(annotation) is dict
    for argument in typing.get_args(annotation)[1 if keyed else 0 :]:
        model, _ = _model_in(argument)
        if model is not None:
            return model, keyed
    return None, False


def fields_at(model: type[BaseModel], loc: Location) -> Optional[list[str]]:
    """The field names of the section that `loc` (ending in a field) is in."""
    current: Optional[type[BaseModel]] = model
    skip_key = False
    for part in loc[:-1]:
        if current is None:
            return None
        if skip_key and isinstance(part, str):
            skip_key = False  # a dict key, e.g. a product's name
            continue
        if isinstance(part, int):
            continue  # a list item
        field = current.model_fields.get(part)
        if field is None:
            return None
        current, skip_key = _model_in(field.annotation)
    return list(current.model_fields) if current is not None else None


def _unknown_field(model: Optional[type[BaseModel]], loc: Location) -> str:
    known = fields_at(model, loc) if model is not None and loc else None
    if not known:
        return "unknown field"
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    if close:
        return f"unknown field (did you mean {close[0]!r}?)"
    return f"unknown field; the fields here are {', '.join(known)}"


def problems_from(
    exc: ValidationError,
    data: Any,
    name: str,
    *,
    model: Optional[type[BaseModel]] = None,
    skip: Iterable[Location] = (),
) -> list[Problem]:
    """The errors of a pydantic validation of `data` (by `model`, which names the
    fields an unknown one could have meant), each at its line."""
    skipped = set(skip)
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        if loc in skipped:
            continue
        where = dotted(loc)
        if error["type"] == "extra_forbidden":
            message = _unknown_field(model, loc)
        else:
            message = _message(error)
        problems.append(
            Problem(
                name, line_of(data, loc), f"{where}: {message}" if where else message
            )
        )
    return problems


def problem_at(data: Any, name: str, loc: Location, message: str) -> Problem:
    """A problem found after validation (a reference to nothing, a duplicate)."""
    where = dotted(loc)
    return Problem(
        name, line_of(data, loc), f"{where}: {message}" if where else message
    )


def validate(model: type[ModelT], data: Any, name: str) -> ModelT:
    """`data` (from `parse_yaml` / `read_yaml`) as a `model`.

    Raises:
        DataFileError: Every problem pydantic found, each at its line.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise DataFileError(problems_from(exc, data, name, model=model)) from None


__all__ = [
    "DataFileError",
    "Location",
    "Problem",
    "display_name",
    "dotted",
    "error_message",
    "line_of",
    "parse_yaml",
    "problem_at",
    "problems_from",
    "read_yaml",
    "validate",
]
