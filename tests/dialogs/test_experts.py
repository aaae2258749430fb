"""Members list their own expertise; `experts <topic>` finds them loosely: any case and word
order, plurals, the start of a word, a few synonyms, one slip of typing. Both databases."""

from __future__ import annotations

import pytest

from dialogs.directory.experts import matches
from tests.dialogs.conversation import person, say, verify_dialog

ANN, BOB, CAT = person("Ann"), person("Bob"), person("Cat")
FV = "Family violence and trauma"
AOD = "Drug and alcohol addiction"
LANGUAGE = "Language or cultural barriers"
ADULT = "Engagement and adult learning principles"


@pytest.fixture
async def listed(core):
    await say(core, ANN, "help")  # Ann is the coordinator
    await verify_dialog(
        core,
        [
            (BOB, f"me expertise {FV}", f"You're now listed as an expert in {FV}"),
            (BOB, "me expertise family VIOLENCE and trauma", "already listed"),
            (CAT, f"me expertise {AOD}", "You're now listed"),
            (CAT, f"me expertise {LANGUAGE}", "You're now listed"),
            (ANN, f"me expertise {ADULT}", "You're now listed"),
        ],
    )
    return core


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("trauma", f"{FV}: Bob"),
        ("VIOLENCE FAMILY", f"{FV}: Bob"),  # case and word order
        ("domestic violence", f"{FV}: Bob"),  # synonym
        ("DV", f"{FV}: Bob"),
        ("famil viol", f"{FV}: Bob"),  # the start of words
        ("drugs", f"{AOD}: Cat"),  # plural
        ("addict", f"{AOD}: Cat"),
        ("AOD", f"{AOD}: Cat"),
        ("alcoholism", f"{AOD}: Cat"),
        ("cultures", f"{LANGUAGE}: Cat"),
        ("ESOL", f"{LANGUAGE}: Cat"),
        ("multicultural", f"{LANGUAGE}: Cat"),
        ("adult learners", f"{ADULT}: Ann"),
        ("andragogy", f"{ADULT}: Ann"),
        ("engaging adults", f"{ADULT}: Ann"),
        ("truama", f"{FV}: Bob"),  # a slip of typing
    ],
)
async def test_experts_are_found_loosely(listed, query, expected):
    assert expected in await say(listed, BOB, f"experts {query}")


async def test_no_match_says_so_and_points_to_near_topics(listed):
    answer = await say(listed, BOB, "experts family budgeting")
    assert "No one has listed expertise in family budgeting yet." in answer
    assert f"Listed topics near it: {FV}." in answer
    assert "List your own with `me expertise <topic>`." in answer


async def test_listing_expertise_makes_a_member_an_expert(listed, store):
    async with store.unit() as uow:
        identity = await uow.members.identity("slack", "T1", "UBOB")
        assert "expert" in await uow.members.roles_of(identity.member_id)
    assert FV in await say(listed, BOB, "me")


def test_loose_matching_does_not_match_everything():
    assert not matches("drugs", FV)
    assert not matches("language trauma", FV)
    assert not matches("", FV)
    assert not matches("violin", FV)
