from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from config.frameworks import (
    SHIPPED_DIRECTORY,
    Framework,
    FrameworkError,
    load_framework_file,
    load_frameworks,
)

SHIPPED = ("qi-3.2", "family-school", "learning-partnerships")

VALID = """\
key: our-own
title: Our own framework
scale:
  name: Three levels
  levels:
    - {value: 1, label: low, description: not much}
    - {value: 3, label: high, description: a lot}
    - {value: 2, label: middle, description: some}
questions:
  - {number: 1, text: "How well do we share?", short: Sharing}
  - {number: 2, text: "How well do we plan?", short: Planning}
prompts:
  - {key: working_well, text: "What is working well?", short: Working well}
  - {key: priorities, text: "What next?", short: Next}
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_frameworks_load():
    frameworks = load_frameworks()
    assert set(SHIPPED) <= set(frameworks)
    for key in SHIPPED:
        assert frameworks[key].key == key
        assert [p.key for p in frameworks[key].prompts] == [
            "working_well",
            "evidence",
            "priorities",
        ]


def test_qi_3_2_has_the_twelve_challenge_questions_and_the_six_point_scale():
    qi = load_frameworks()["qi-3.2"]
    assert qi.title == (
        "How good is our community learning and development? "
        "Quality Indicator 3.2: Partnership working"
    )
    assert qi.question_numbers == tuple(range(1, 13))
    assert qi.question(7).text == (
        "How effectively do we jointly plan, monitor and evaluate within partnerships?"
    )
    assert qi.scale.values == (6, 5, 4, 3, 2, 1)
    assert [level.label for level in qi.scale.levels] == [
        "excellent",
        "very good",
        "good",
        "satisfactory",
        "weak",
        "unsatisfactory",
    ]
    assert qi.level(6).label == "excellent"
    assert qi.level(1).description == "major weaknesses"
    assert qi.prompt("working_well").text == "What is working well?"
    assert qi.prompt("evidence").text == (
        "How do you know? What evidence do you have of positive impact?"
    )
    assert qi.prompt("priorities").text == "What are your improvement priorities?"


def test_family_school_has_the_eight_platform_elements():
    family = load_frameworks()["family-school"]
    assert [q.short for q in family.questions] == [
        "Committed leaders",
        "Engagement or partnership policy",
        "Capacity building strategy",
        "Action team",
        "Communication and feedback",
        "Support network",
        "Adequate resourcing",
        "Good governance",
    ]
    assert family.question(8).text.startswith("Good governance, which includes a process")
    assert family.scale.values == (4, 3, 2, 1)


def test_learning_partnerships_has_the_seven_guiding_questions():
    learning = load_frameworks()["learning-partnerships"]
    assert learning.question_numbers == tuple(range(1, 8))
    assert learning.question(4).text == (
        "How can the school leverage community, industry and business knowledge and skills?"
    )


def test_the_shipped_files_live_beside_the_loader():
    # Found through the package, so an installed wheel finds them too (package-data).
    assert sorted(p.name for p in SHIPPED_DIRECTORY.glob("*.yaml")) == [
        "family-school.yaml",
        "learning-partnerships.yaml",
        "qi-3.2.yaml",
    ]


def test_helpers_refuse_what_is_not_there_with_a_message():
    qi = load_frameworks()["qi-3.2"]
    with pytest.raises(KeyError, match="no question 13"):
        qi.question(13)
    with pytest.raises(KeyError, match="no level 7"):
        qi.level(7)
    with pytest.raises(KeyError, match="no prompt 'nope'"):
        qi.prompt("nope")


def test_frameworks_are_frozen():
    qi = load_frameworks()["qi-3.2"]
    with pytest.raises(ValidationError):
        qi.title = "changed"  # type: ignore[misc]


def test_an_extra_directory_adds_a_framework(tmp_path: Path):
    write(tmp_path, "ours.yaml", VALID)
    write(tmp_path, "notes.txt", "not a framework")
    frameworks = load_frameworks(tmp_path)
    assert set(frameworks) == {*SHIPPED, "our-own"}
    ours = frameworks["our-own"]
    assert ours.short_title == "Our own framework"  # defaults to the title
    assert ours.scale.values == (3, 2, 1)  # highest first, whatever the file's order
    assert ours.question(2).short == "Planning"


def test_questions_keep_published_numbers_with_gaps_in_number_order(tmp_path: Path):
    text = VALID.replace("number: 1,", "number: 7,").replace("number: 2,", "number: 3,")
    framework = load_framework_file(write(tmp_path, "ours.yaml", text))
    assert framework.question_numbers == (3, 7)


def test_the_shipped_directory_passed_again_is_not_a_duplicate():
    assert set(load_frameworks(SHIPPED_DIRECTORY)) == set(SHIPPED)


def test_a_duplicate_key_is_refused_naming_both_files(tmp_path: Path):
    copy = write(tmp_path, "copy.yaml", (SHIPPED_DIRECTORY / "qi-3.2.yaml").read_text())
    with pytest.raises(FrameworkError) as caught:
        load_frameworks(tmp_path)
    message = str(caught.value)
    assert caught.value.path == copy
    assert caught.value.field == "key"
    assert "copy.yaml" in message
    assert "qi-3.2.yaml" in message
    assert "'qi-3.2' is already defined" in message


def test_a_missing_extra_directory_is_an_error(tmp_path: Path):
    with pytest.raises(FrameworkError, match="not a directory"):
        load_frameworks(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("text", "field", "says"),
    [
        pytest.param(VALID.replace("key: our-own\n", ""), "key", "is required", id="missing-key"),
        pytest.param(
            VALID.replace('"How well do we plan?"', "''"),
            "questions[1].text",
            "must not be empty",
            id="empty-question-text",
        ),
        pytest.param(
            VALID.replace("number: 2,", "number: 1,"),
            "questions",
            "number 1 is used twice (questions[0] and questions[1])",
            id="duplicate-question-numbers",
        ),
        pytest.param(
            VALID.replace("value: 2,", "value: 3,"),
            "scale.levels",
            "value 3 is used twice",
            id="duplicate-level-values",
        ),
        pytest.param(
            VALID.replace("label: middle", "label: High"),
            "scale.levels",
            "label 'High' is used twice",
            id="duplicate-level-labels",
        ),
        pytest.param(
            VALID.replace("questions:", "questoins:"),
            "questoins",
            "is not a known field (did you mean 'questions'?)",
            id="unknown-field",
        ),
        pytest.param(
            VALID.replace("short: Sharing}", "short: Sharing, colour: red}"),
            "questions[0].colour",
            "is not a known field",
            id="unknown-nested-field",
        ),
        pytest.param(
            VALID.replace("key: our-own", "key: Our Own"),
            "key",
            "lowercase slug",
            id="key-not-a-slug",
        ),
        pytest.param(
            VALID.replace("How well do we share?", "x" * 501),
            "questions[0].text",
            "at most 500 characters",
            id="question-too-long",
        ),
        pytest.param(
            VALID.replace("    - {value: 3, label: high, description: a lot}\n", "").replace(
                "    - {value: 2, label: middle, description: some}\n", ""
            ),
            "scale.levels",
            "at least 2",
            id="one-level",
        ),
        pytest.param(
            VALID.split("prompts:")[0] + "prompts: []\n",
            "prompts",
            "at least 1",
            id="no-prompts",
        ),
        pytest.param(
            VALID.replace("key: priorities", "key: working_well"),
            "prompts",
            "key 'working_well' is used twice",
            id="duplicate-prompt-keys",
        ),
        pytest.param(
            VALID.replace("title: Our own framework\n", "title: Ours\ntitle: Theirs\n"),
            "line 3, column 1",
            "'title' is written twice",
            id="field-written-twice",
        ),
        pytest.param(
            VALID.replace("questions:\n", "questions:\n  - How well?\n"),
            "questions[0]",
            "must be a mapping with fields number, text, short",
            id="question-not-a-mapping",
        ),
        pytest.param(
            VALID.replace("title: Our own framework", "title: [unclosed"),
            "line 3, column 6",  # where the parser gave up: the next line's ':'
            "YAML syntax error",
            id="yaml-syntax-error",
        ),
        pytest.param("- key: our-own\n- title: Ours\n", None, "must be a YAML mapping", id="list"),
        pytest.param("", None, "not an empty file", id="empty-file"),
    ],
)
def test_a_broken_file_names_the_file_and_the_field(
    tmp_path: Path, text: str, field: str | None, says: str
):
    path = write(tmp_path, "broken.yaml", text)
    with pytest.raises(FrameworkError) as caught:
        load_frameworks(tmp_path)
    error = caught.value
    assert error.path == path
    assert error.field == field
    assert says in error.message
    expected = f"broken.yaml: {field}: " if field else "broken.yaml: "
    assert expected in str(error)


def test_the_error_reads_as_file_field_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "frameworks").mkdir()
    write(tmp_path / "frameworks", "ours.yaml", VALID.replace('"How well do we plan?"', '" "'))
    with pytest.raises(FrameworkError) as caught:
        load_frameworks(Path("frameworks"))
    assert str(caught.value).startswith("frameworks/ours.yaml: questions[1].text: ")


def test_the_model_validates_without_a_file():
    framework = Framework.model_validate(
        {
            "key": "x",
            "title": "X",
            "scale": {
                "name": "s",
                "levels": [
                    {"value": 1, "label": "a", "description": "a"},
                    {"value": 2, "label": "b", "description": "b"},
                ],
            },
            "questions": [{"number": 1, "text": "Q?", "short": "Q"}],
            "prompts": [{"key": "priorities", "text": "P?", "short": "P"}],
        }
    )
    assert framework.short_title == "X"
