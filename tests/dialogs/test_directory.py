from datetime import UTC, datetime

from dialogs.core import Partnerbot
from dialogs.turn import Partnership
from tests.dialogs.conversation import person, say, verify_dialog

ANN, BOB, CAT = person("Ann"), person("Bob"), person("Cat")


async def test_a_new_partnership_from_first_contact(core, store):
    await verify_dialog(
        core,
        [
            (ANN, "help", "Welcome, Ann! You're now a member"),
            (ANN, "me", "Roles         member, partnership coordinator"),
            (ANN, "areas", "There are no areas yet. Add one with `area add <name>`."),
            (ANN, "area add Marr", "Added the area Marr."),
            (ANN, "area add Kincardine and Mearns", "Added the area Kincardine and Mearns."),
            (ANN, "area add marr", "There's already an area called Marr."),
            (ANN, "me area kincardine AND mearns", "You're now in Kincardine and Mearns."),
            (
                ANN,
                "me org Aberdeenshire Council",
                "It's new to the partners directory, so I've added it.",
            ),
            (BOB, "hello", "Welcome, Bob!"),
            (BOB, "hello", "I don't know the command `hello`. Did you mean `help`?"),
            (
                BOB,
                "me org aberdeenshire council",
                "Your organisation is now Aberdeenshire Council.",
            ),
            (
                BOB,
                "me area Formartine",
                "There's no area called Formartine. The areas are: Kincardine and Mearns, Marr.",
            ),
            (BOB, "me area Marr", "You're now in Marr."),
            (ANN, "areas", "Kincardine and Mearns - 1 member"),
            (ANN, "areas", "Marr - 1 member"),
            (ANN, "partners", "Aberdeenshire Council - 2 members"),
            (ANN, "partner add Banchory Youth Trust past", "as a past partner"),
            (BOB, "partners", "Past partners"),
        ],
    )
    async with store.unit() as uow:
        bob = await uow.members.identity("slack", "T1", "UBOB")
        member = await uow.members.get(bob.member_id)
        assert (await uow.areas.get(member.area_id)).name == "Marr"
        assert bob.dm_channel_id == "DUBOB"


async def test_only_the_first_person_becomes_coordinator(core, store):
    await say(core, ANN, "help")
    answer = await say(core, BOB, "area add Marr")
    assert "Sorry, `area add` is for partnership coordinators." in answer
    assert "coordinator" not in (await say(core, BOB, "me")).split("Roles")[1].split("\n")[0]
    async with store.unit() as uow:
        assert await uow.areas.all() == []


async def test_roles_given_by_mention(core, store):
    await say(core, ANN, "help")
    answer = await say(core, ANN, "role <@UBOB> coordinator", mentions=[BOB])
    assert "Bob is now a partnership coordinator." in answer
    assert "Added the area Marr." in await say(core, BOB, "area add Marr")
    assert "Bob is already a partnership coordinator." in await say(
        core, ANN, "role <@UBOB> coordinator"
    )
    assert "Ann is now a member" in await say(core, BOB, "role <@UANN> member")
    assert "Bob is the only partnership coordinator" in await say(core, BOB, "role <@UBOB> member")
    assert "Sorry, `role` is for partnership coordinators." in await say(
        core, ANN, "role <@UANN> manager"
    )
    async with store.unit() as uow:
        coordinators = await uow.members.with_role("coordinator")
        assert [m.display_name for m in coordinators] == ["Bob"]


async def test_a_mentioned_person_the_bot_never_met_is_registered(core, store):
    await say(core, ANN, "help")
    await say(core, ANN, "expert add <@UCAT> Language or cultural barriers", mentions=[CAT])
    async with store.unit() as uow:
        identity = await uow.members.identity("slack", "T1", "UCAT")
        assert identity is not None
        assert await uow.members.roles_of(identity.member_id) == {"expert"}
    assert "Welcome, Cat!" not in await say(core, CAT, "me")  # already known


async def test_experts_found_loosely(core):
    await say(core, ANN, "help")
    await verify_dialog(
        core,
        [
            (ANN, "experts", "No subject-matter experts are listed yet."),
            (ANN, "expert add @Ann Family violence and trauma", "Ann is now listed as an expert"),
            (ANN, "expert add @Ann Engagement and adult learning principles", "Ann is now listed"),
            (ANN, "expert add @Ann family violence and TRAUMA", "already listed"),
            (ANN, "experts trauma", "Family violence and trauma: Ann"),
            (ANN, "experts adult learner", "Engagement and adult learning principles: Ann"),
            (ANN, "experts drugs", "No one has listed expertise in drugs yet."),
            (ANN, "expert add @Nobody Drugs", "I don't know anyone called Nobody."),
        ],
    )


async def test_time_zone_shown_in_the_members_zone(store):
    clock = lambda: datetime(2026, 7, 1, 12, 0, tzinfo=UTC)  # noqa: E731
    core = Partnerbot(store, Partnership(first_contact_becomes_coordinator=True), clock=clock)
    await verify_dialog(
        core,
        [
            (ANN, "me", "Europe/London (default), now 13:00 on Wed 01 Jul"),
            (
                ANN,
                "me tz australia/melbourne",
                "Australia/Melbourne; it's 22:00 on Wed 01 Jul there",
            ),
            (ANN, "me tz Moon/Base", "`Moon/Base` is not a time zone I know."),
            (ANN, "me", "Australia/Melbourne, now 22:00"),
        ],
    )


async def test_usage_errors_save_nothing_but_the_member_is_still_registered(core, store):
    answer = await say(core, ANN, "area add " + "x" * 200)
    assert "That area name is too long" in answer
    async with store.unit() as uow:
        assert await uow.areas.all() == []
        assert await uow.members.count() == 1  # the refusal undid the command, not the welcome
    answer = await say(core, ANN, "role Bob coordinator")
    assert "Sorry, name the member with an @mention, not `Bob`." in answer
    assert "Usage: role <@member> member|coordinator|expert|manager" in answer


async def test_admins_from_settings_are_coordinators(store):
    core = Partnerbot(store, Partnership(admins=frozenset({"UBOB"})))
    assert "is for partnership coordinators" in await say(core, ANN, "area add Marr")
    assert "Added the area Marr." in await say(core, BOB, "area add Marr")
    assert "first person" not in await say(core, CAT, "help")


async def test_help_lists_topics_and_commands(core):
    overview = await say(core, ANN, "help")
    for topic in ("directory", "checkin", "meetings", "practice", "actions", "privacy"):
        assert f"[{topic.capitalize()}: help {topic}]" in overview
    directory = await say(core, ANN, "help me")
    assert "me area <area> - set the area you work in" in directory
    assert "area add <name> - add an area (partnership coordinator)" in directory
    assert "There's no help topic `cooking`." in await say(core, ANN, "help cooking")


async def test_every_command_has_a_handler_and_a_missing_one_answers_plainly(core, store):
    from dialogs.core import default_handlers
    from dialogs.grammar import COMMANDS

    assert [spec.name for spec in COMMANDS if spec.path not in default_handlers()] == []
    assert "I don't know the command `zzz`. Try `help`." in await say(core, ANN, "zzz")
    # A build that leaves a command out (a deployment switching one off) says so.
    handlers = {k: v for k, v in default_handlers().items() if k != ("mydata", "export")}
    trimmed = Partnerbot(
        store, Partnership(first_contact_becomes_coordinator=True), handlers=handlers
    )
    answer = await say(trimmed, ANN, "mydata export")
    assert "`mydata export` is part of partnerbot's design but isn't switched on" in answer


async def test_coordinators_see_who_messages_no_longer_reach(core, store):
    from datetime import UTC, datetime

    await say(core, ANN, "area add Marr")
    await say(core, BOB, "help")
    now = datetime(2026, 3, 1, tzinfo=UTC)
    async with store.unit() as uow:
        bob = await uow.members.identity("slack", "T1", "UBOB")
        channel = await uow.conversations.remember(
            platform="slack",
            tenant_id="T1",
            conversation_id="C9",
            kind="channel",
            name="marr-forum",
            reference=None,
            now=now,
        )
        await uow.outbox.mark_unreachable(
            identity_id=bob.id, conversation_row_id=None, reason="account_inactive", now=now
        )
        await uow.outbox.mark_unreachable(
            identity_id=None, conversation_row_id=channel.id, reason="not_in_channel", now=now
        )
    answer = await say(core, ANN, "areas")
    assert "The bot's messages can't reach these" in answer
    assert "Bob (slack): account_inactive" in answer
    assert "#marr-forum (slack): not_in_channel" in answer
    assert "can't reach" not in await say(core, BOB, "areas")  # members don't see it
    # Bob writes to the bot again: he is reachable once more.
    await say(core, BOB, "me")
    assert "Bob (slack)" not in await say(core, ANN, "areas")


async def test_a_member_registered_without_a_name_gets_it_when_they_write(core, store):
    from dialogs.messages import MembersJoined
    from tests.dialogs.conversation import dm

    nameless = person("Dee").__class__(ANN.platform, "T1", "UDEE", "")
    await core.members_joined(MembersJoined(dm(nameless), (nameless,)))
    assert "Name          UDEE" in await say(core, nameless, "me")
    assert "Name          Dee" in await say(core, person("Dee"), "me")


async def test_two_registrations_of_one_person_at_once_settle(core, store):
    import asyncio

    from dialogs.messages import MembersJoined
    from tests.dialogs.conversation import dm

    event = MembersJoined(dm(ANN), (ANN, BOB))
    await asyncio.gather(core.members_joined(event), core.members_joined(event))
    async with store.unit() as uow:
        assert await uow.members.count() == 2


async def test_a_member_still_reachable_on_another_platform_is_not_listed(core, store):
    from storage.models import Identity

    await say(core, ANN, "area add Marr")
    await say(core, BOB, "help")
    now = datetime(2026, 3, 1, tzinfo=UTC)
    async with store.unit() as uow:
        slack = await uow.members.identity("slack", "T1", "UBOB")
        teams = Identity(
            member_id=slack.member_id,
            platform="teams",
            tenant_id="tenant-1",
            user_id="29:bob",
            display_name="Bob",
            created_at=now,
            last_seen_at=now,
        )
        console = Identity(
            member_id=slack.member_id,
            platform="console",
            tenant_id="local",
            user_id="bob",
            display_name="Bob",
            created_at=now,
            last_seen_at=now,
        )
        uow.session.add_all([teams, console])
        await uow.session.flush()
        await uow.outbox.mark_unreachable(
            identity_id=slack.id, conversation_row_id=None, reason="account_inactive", now=now
        )
        teams_id = teams.id
    # The bot still writes to Bob in Teams (the console is never written to unasked).
    assert "can't reach" not in await say(core, ANN, "areas")
    async with store.unit() as uow:
        await uow.outbox.mark_unreachable(
            identity_id=teams_id,
            conversation_row_id=None,
            reason="ConversationBlockedByUser",
            now=now,
        )
    answer = await say(core, ANN, "areas")
    assert "Bob (slack): account_inactive" in answer
    assert "Bob (teams): ConversationBlockedByUser" in answer
