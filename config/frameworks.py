"""Self-evaluation frameworks, read from YAML files.

A framework is data: ``config/frameworks/*.yaml`` ships HGIOCLD QI 3.2, the family-school
partnership platform and the learning-partnership guiding questions; a partnership adds its own by
dropping a file into a directory it passes to ``load_frameworks``. Every file is validated when it
is loaded, and a problem is reported as ``FrameworkError`` naming the file and the field, e.g.
``config/frameworks/qi-3.2.yaml: questions[3].text: must not be empty`` (list positions count from
0, as in the file's list).

Decisions a framework author should know:

- Question numbers are positive, unique integers; gaps are allowed, because the numbers are the
  publisher's ("challenge question 7") and a partnership that keeps only some questions of a
  published framework keeps their published numbers. Questions are kept in number order.
- Scale levels are kept highest value first, the order they are shown in.
- Unknown fields, and a field written twice in one mapping, are errors: a typo must not pass
  silently.
- Reports group answers by prompt key; the prompt keyed ``priorities`` is the one whose answers
  become action items. The shipped frameworks all use ``working_well``, ``evidence`` and
  ``priorities``.

Nothing is cached here: the composition root calls ``load_frameworks`` once.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

SHIPPED_DIRECTORY = Path(__file__).parent / "frameworks"

MAX_QUESTION_CHARS = 500
MIN_LEVELS = 2
MAX_LEVELS = 10

FrameworkKey = Annotated[
    str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$")
]
PromptKey = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")]
ShortText = Annotated[str, Field(min_length=1, max_length=40)]


def _text(max_length: int) -> Any:
    return Field(min_length=1, max_length=max_length)


class _Model(BaseModel):
    # str_strip_whitespace: YAML block scalars (">") end in a newline; "   " counts as empty.
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


def _problem(message: str) -> PydanticCustomError:
    # A custom error keeps pydantic from prefixing the message with "Value error, ".
    return PydanticCustomError("framework", message)


def _first_repeat(values: Sequence[Hashable]) -> tuple[int, int] | None:
    """Positions of the first value that appears twice, or None."""
    seen: dict[Hashable, int] = {}
    for index, value in enumerate(values):
        if value in seen:
            return seen[value], index
        seen[value] = index
    return None


class Level(_Model):
    value: int
    label: ShortText
    description: str = _text(200)


class Scale(_Model):
    name: str = _text(100)
    levels: tuple[Level, ...] = Field(min_length=MIN_LEVELS, max_length=MAX_LEVELS)

    @field_validator("levels")
    @classmethod
    def _unique_and_highest_first(cls, levels: tuple[Level, ...]) -> tuple[Level, ...]:
        if repeat := _first_repeat([level.value for level in levels]):
            first, second = repeat
            raise _problem(
                f"value {levels[second].value} is used twice (levels[{first}] and levels[{second}])"
            )
        if repeat := _first_repeat([level.label.casefold() for level in levels]):
            first, second = repeat
            raise _problem(
                f"label {levels[second].label!r} is used twice "
                f"(levels[{first}] and levels[{second}])"
            )
        return tuple(sorted(levels, key=lambda level: level.value, reverse=True))

    @property
    def values(self) -> tuple[int, ...]:
        """The level values, highest first."""
        return tuple(level.value for level in self.levels)

    def level(self, value: int) -> Level:
        for level in self.levels:
            if level.value == value:
                return level
        raise KeyError(
            f"the scale {self.name!r} has no level {value} "
            f"(its levels are {', '.join(str(v) for v in self.values)})"
        )


class Question(_Model):
    number: int = Field(ge=1)
    text: str = _text(MAX_QUESTION_CHARS)
    short: ShortText


class Prompt(_Model):
    key: PromptKey
    text: str = _text(MAX_QUESTION_CHARS)
    short: ShortText


class Framework(_Model):
    key: FrameworkKey
    title: str = _text(200)
    short_title: str = _text(60)
    source: str = Field(default="", max_length=300)
    description: str = Field(default="", max_length=2000)
    scale: Scale
    questions: tuple[Question, ...] = Field(min_length=1)
    prompts: tuple[Prompt, ...] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _short_title_defaults_to_title(cls, data: object) -> object:
        if isinstance(data, Mapping) and "short_title" not in data and "title" in data:
            return {**data, "short_title": data["title"]}
        return data

    @field_validator("questions")
    @classmethod
    def _numbered_uniquely(cls, questions: tuple[Question, ...]) -> tuple[Question, ...]:
        if repeat := _first_repeat([question.number for question in questions]):
            first, second = repeat
            raise _problem(
                f"number {questions[second].number} is used twice "
                f"(questions[{first}] and questions[{second}])"
            )
        return tuple(sorted(questions, key=lambda question: question.number))

    @field_validator("prompts")
    @classmethod
    def _unique_prompt_keys(cls, prompts: tuple[Prompt, ...]) -> tuple[Prompt, ...]:
        if repeat := _first_repeat([prompt.key for prompt in prompts]):
            first, second = repeat
            raise _problem(
                f"key {prompts[second].key!r} is used twice "
                f"(prompts[{first}] and prompts[{second}])"
            )
        return prompts

    @property
    def question_numbers(self) -> tuple[int, ...]:
        return tuple(question.number for question in self.questions)

    def question(self, number: int) -> Question:
        for question in self.questions:
            if question.number == number:
                return question
        raise KeyError(
            f"framework {self.key!r} has no question {number} "
            f"(its questions are {', '.join(str(n) for n in self.question_numbers)})"
        )

    def level(self, value: int) -> Level:
        return self.scale.level(value)

    def prompt(self, key: str) -> Prompt:
        for prompt in self.prompts:
            if prompt.key == key:
                return prompt
        raise KeyError(
            f"framework {self.key!r} has no prompt {key!r} "
            f"(its prompts are {', '.join(p.key for p in self.prompts)})"
        )


class FrameworkError(Exception):
    """A framework file cannot be used. ``field`` is a path like ``questions[3].text``, or None
    when the problem is the file as a whole."""

    def __init__(self, path: Path, field: str | None, message: str) -> None:
        self.path = path
        self.field = field
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = _display(self.path)
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


def load_frameworks(*directories: Path) -> dict[str, Framework]:
    """Every ``*.yaml`` framework in the shipped folder, then in each of ``directories``, by key.

    Raises ``FrameworkError`` for the first file that does not validate, and for a key defined
    twice (naming both files).
    """
    frameworks: dict[str, Framework] = {}
    origins: dict[str, Path] = {}
    for directory in _unique_directories([SHIPPED_DIRECTORY, *directories]):
        if not directory.is_dir():
            raise FrameworkError(directory, None, "is not a directory of framework files")
        for path in sorted(directory.glob("*.yaml")):
            framework = load_framework_file(path)
            if framework.key in frameworks:
                raise FrameworkError(
                    path,
                    "key",
                    f"{framework.key!r} is already defined in {_display(origins[framework.key])}",
                )
            frameworks[framework.key] = framework
            origins[framework.key] = path
    return frameworks


def load_framework_file(path: Path) -> Framework:
    """One framework file, validated."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise FrameworkError(path, None, "is not UTF-8 text") from None
    except OSError as exc:
        raise FrameworkError(path, None, f"cannot be read ({exc.strerror})") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        raise FrameworkError(path, _where(exc), _yaml_problem(exc)) from None
    except yaml.YAMLError as exc:
        raise FrameworkError(path, None, f"is not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {_yaml_kind(data)}"
        raise FrameworkError(
            path,
            None,
            f"must be a YAML mapping of fields ({', '.join(Framework.model_fields)}), not {found}",
        )
    try:
        return Framework.model_validate(data)
    except ValidationError as exc:
        errors = sorted(exc.errors(), key=lambda err: err["type"] != "extra_forbidden")
        first = errors[0]
        message = _message(first)
        if len(errors) > 1:
            others = len(errors) - 1
            message += f" (and {others} more problem{'s' if others > 1 else ''} in this file)"
        raise FrameworkError(path, _field_path(first["loc"]), message) from None


# --- YAML ------------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"the field {key!r} is written twice",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictLoader.construct_mapping
)


def _where(exc: yaml.MarkedYAMLError) -> str | None:
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return None
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    problem = exc.problem or exc.context or "invalid YAML"
    if isinstance(exc, yaml.constructor.ConstructorError):
        return problem  # well-formed YAML that we refuse (a field written twice)
    return f"YAML syntax error: {problem}"


def _yaml_kind(data: object) -> str:
    if isinstance(data, list):
        return "list"
    if isinstance(data, str):
        return "plain string"
    return type(data).__name__


# --- pydantic errors -> file fields ----------------------------------------------------------


def _field_path(loc: Iterable[int | str]) -> str | None:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or None


def _message(error: Any) -> str:
    kind = error["type"]
    context = error.get("ctx") or {}
    loc = tuple(error["loc"])
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        message = "is not a known field"
        if hint:
            message += f" (did you mean {hint[0]!r}?)"
        return message + f"; allowed here: {', '.join(allowed)}"
    if kind == "model_type":
        return f"must be a mapping with fields {', '.join(_fields_at(loc))}"
    if kind == "tuple_type":
        return "must be a list"
    if kind == "string_too_short" and context.get("min_length") == 1:
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {context['max_length']} characters"
    if kind == "too_short":
        return f"must have at least {context['min_length']} item(s)"
    if kind == "too_long":
        return f"must have at most {context['max_length']} items"
    if kind == "string_pattern_mismatch":
        if loc and loc[0] == "key" and len(loc) == 1:
            return "must be a lowercase slug: letters, digits, '.' and '-' (like qi-3.2)"
        return "must be lowercase letters, digits and '_', starting with a letter"
    return str(error["msg"])


def _fields_at(loc: Sequence[int | str]) -> list[str]:
    """The field names of the model found at ``loc`` inside a Framework."""
    model: type[BaseModel] = Framework
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        inner = _model_in(field.annotation) if field else None
        if inner is None:
            return []
        model = inner
    return list(model.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        if isinstance(argument, type) and issubclass(argument, BaseModel):
            return argument
    return None


def _display(path: Path) -> str:
    """A path relative to the working directory when it is under it (as people type it)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _unique_directories(directories: Iterable[Path]) -> list[Path]:
    unique: dict[Path, Path] = {}
    for directory in directories:
        unique.setdefault(Path(directory).resolve(), Path(directory))
    return list(unique.values())
