from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, text

from storage.db import write_now
from storage.models import DialogState
from storage.repositories import Conflict

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


async def test_register_and_find_a_member_by_platform_identity(store):
    async with store.unit() as uow:
        member, _ = await uow.members.register(
            platform="teams", tenant_id="t1", user_id="29:abc", display_name="Aileen", now=NOW
        )
    async with store.unit() as uow:
        found = await uow.members.identity("teams", "t1", "29:abc")
        assert found is not None and found.member_id == member.id
        assert (await uow.members.get(member.id)).display_name == "Aileen"
        assert await uow.members.identity("slack", "t1", "29:abc") is None
        assert found.created_at == NOW


async def test_one_identity_per_platform_user(store):
    async with store.unit() as uow:
        await uow.members.register(
            platform="slack", tenant_id="T1", user_id="U1", display_name="A", now=NOW
        )
    with pytest.raises(Conflict):
        async with store.unit() as uow:
            await uow.members.register(
                platform="slack", tenant_id="T1", user_id="U1", display_name="A again", now=NOW
            )
    async with store.unit() as uow:
        assert await uow.members.count() == 1  # the failed transaction left nothing behind


async def test_roles_are_granted_once_and_revoked(store):
    async with store.unit() as uow:
        member, _ = await uow.members.register(
            platform="console", tenant_id="", user_id="a", display_name="A", now=NOW
        )
        assert await uow.members.grant(member.id, "coordinator", now=NOW) is True
        assert await uow.members.grant(member.id, "coordinator", now=NOW) is False
        await uow.members.grant(member.id, "expert", now=NOW)
    async with store.unit() as uow:
        assert await uow.members.roles_of(member.id) == {"coordinator", "expert"}
        assert [m.id for m in await uow.members.with_role("coordinator")] == [member.id]
        assert await uow.members.revoke(member.id, "coordinator") is True
    async with store.unit() as uow:
        assert await uow.members.roles_of(member.id) == {"expert"}


async def test_area_coordinators_are_appointed_per_area_and_read_with_the_roles(store):
    async with store.unit() as uow:
        cora, _ = await uow.members.register(
            platform="console", tenant_id="", user_id="c", display_name="Cora", now=NOW
        )
        marr = await uow.areas.add("Marr", now=NOW)
        buchan = await uow.areas.add("Buchan", now=NOW)
        assert await uow.members.appoint_area_coordinator(cora.id, marr.id, now=NOW) is True
        assert await uow.members.appoint_area_coordinator(cora.id, marr.id, now=NOW) is False
        await uow.members.appoint_area_coordinator(cora.id, buchan.id, now=NOW)
        await uow.members.grant(cora.id, "expert", now=NOW)
    async with store.unit() as uow:
        # One query for both: a turn reads them on every message.
        assert await uow.members.standing_of(cora.id) == (
            frozenset({"expert"}),
            frozenset({marr.id, buchan.id}),
        )
        posts = await uow.members.area_coordinators()
        assert {area: [m.display_name for m in people] for area, people in posts.items()} == {
            marr.id: ["Cora"],
            buchan.id: ["Cora"],
        }
        assert await uow.members.roles_of(cora.id) == {"expert"}  # not a partnership coordinator
        assert await uow.members.stand_down_area_coordinator(cora.id, marr.id) == 1
    async with store.unit() as uow:
        assert await uow.members.standing_of(cora.id) == (
            frozenset({"expert"}),
            frozenset({buchan.id}),
        )
        await uow.session.delete(await uow.areas.get(buchan.id))
    async with store.unit() as uow:
        # An area that goes takes its coordinators' posts with it.
        assert await uow.members.standing_of(cora.id) == (frozenset({"expert"}), frozenset())


async def test_areas_are_unique_whatever_the_case(store):
    async with store.unit() as uow:
        area = await uow.areas.add("  Banff   and Buchan ", now=NOW)
    assert area.name == "Banff and Buchan"
    async with store.unit() as uow:
        assert (await uow.areas.by_name("banff AND buchan")).id == area.id
    with pytest.raises(Conflict):
        async with store.unit() as uow:
            await uow.areas.add("BANFF AND BUCHAN", now=NOW)


async def test_member_counts_per_area_and_organisation(store):
    async with store.unit() as uow:
        marr = await uow.areas.add("Marr", now=NOW)
        council = await uow.organisations.add("Aberdeenshire Council", now=NOW)
        old = await uow.organisations.add("Old Trust", now=NOW, is_current=False)
        for name in ("a", "b", "c"):
            member, _ = await uow.members.register(
                platform="console", tenant_id="", user_id=name, display_name=name, now=NOW
            )
            member.area_id = marr.id
            member.organisation_id = council.id if name != "c" else None
    async with store.unit() as uow:
        assert await uow.areas.member_counts() == {marr.id: 3}
        assert await uow.organisations.member_counts() == {council.id: 2}
        assert [o.name for o in await uow.organisations.all()] == [
            "Aberdeenshire Council",
            "Old Trust",
        ]  # current partners first
        assert (await uow.organisations.get(old.id)).is_current is False


async def test_inbound_events_are_seen_once(store):
    async with store.unit() as uow:
        assert await uow.inbound_events.first_time("slack", "Ev1", now=NOW) is True
    async with store.unit() as uow:
        assert await uow.inbound_events.first_time("slack", "Ev1", now=NOW) is False
        assert await uow.inbound_events.first_time("teams", "Ev1", now=NOW) is True
    async with store.unit() as uow:
        assert await uow.inbound_events.forget_before(NOW + timedelta(seconds=1)) == 2
        assert await uow.inbound_events.first_time("slack", "Ev1", now=NOW) is True


async def test_a_messages_arrival_records_its_id_and_reads_its_sender_once(store):
    async with store.unit() as uow:
        member, _ = await uow.members.register(
            platform="teams", tenant_id="t1", user_id="29:abc", display_name="Aileen", now=NOW
        )
        north = await uow.areas.add("North", now=NOW)
        south = await uow.areas.add("South", now=NOW)
        await uow.members.grant(member.id, "coordinator", now=NOW)
        await uow.members.grant(member.id, "facilitator", now=NOW)
        await uow.members.appoint_area_coordinator(member.id, north.id, now=NOW)
        await uow.members.appoint_area_coordinator(member.id, south.id, now=NOW)
        await uow.dialog_states.save(member.id, flow="checkin", step="q1", data={"n": 1}, now=NOW)
    async with store.unit() as uow:
        fresh, known = await uow.members.arrival("teams", "t1", "29:abc", event_id="act-1", now=NOW)
        assert fresh is True and known is not None
        assert (known.member.id, known.member.display_name) == (member.id, "Aileen")
        assert known.identity.user_id == "29:abc"
        assert (known.dialog_state.flow, known.dialog_state.data) == ("checkin", {"n": 1})
        assert known.roles == {"coordinator", "facilitator"}
        assert known.areas == {north.id, south.id}
        known.identity.display_name = "Aileen M"  # what a turn changes is saved with it
    async with store.unit() as uow:
        # The same id again (a platform retry): nothing read, nothing written.
        assert await uow.members.arrival("teams", "t1", "29:abc", event_id="act-1", now=NOW) == (
            False,
            None,
        )
        assert (await uow.members.identity("teams", "t1", "29:abc")).display_name == "Aileen M"
        # A stranger's message is recorded; there is nobody to read.
        assert await uow.members.arrival("teams", "t1", "29:new", event_id="act-2", now=NOW) == (
            True,
            None,
        )
        # Without an id (the console) only the sender is read.
        fresh, known = await uow.members.arrival("teams", "t1", "29:abc", event_id=None, now=NOW)
        assert fresh is True and known.member.id == member.id
        assert known.dialog_state is not None
    async with store.unit() as uow:
        assert await uow.inbound_events.first_time("teams", "act-2", now=NOW) is False
        assert await uow.inbound_events.forget_before(NOW + timedelta(seconds=1)) == 2


async def test_a_turn_that_fails_leaves_its_message_unrecorded(store):
    """A crash mid-turn rolls the id back with the rest, so the platform's retry is answered."""
    async with store.unit() as uow:
        await uow.members.register(
            platform="slack", tenant_id="T1", user_id="U1", display_name="A", now=NOW
        )
    with pytest.raises(RuntimeError):
        async with store.unit() as uow:
            fresh, _ = await uow.members.arrival("slack", "T1", "U1", event_id="Ev9", now=NOW)
            assert fresh is True
            raise RuntimeError("the turn failed")
    async with store.unit() as uow:
        fresh, known = await uow.members.arrival("slack", "T1", "U1", event_id="Ev9", now=NOW)
        assert fresh is True and known.member.display_name == "A"


async def test_meta_claim_succeeds_for_one_caller_only(store):
    async with store.unit() as uow:
        assert await uow.meta.claim("first_coordinator", "1") is True
        assert await uow.meta.claim("first_coordinator", "2") is False
    async with store.unit() as uow:
        assert await uow.meta.get("first_coordinator") == "1"


async def test_conversations_are_remembered_and_refreshed(store):
    reference = {"serviceUrl": "https://smba.example/", "conversation": {"id": "19:x"}}
    async with store.unit() as uow:
        first = await uow.conversations.remember(
            platform="teams",
            tenant_id="t",
            conversation_id="19:x",
            kind="channel",
            name="General",
            reference=reference,
            now=NOW,
        )
    later = NOW + timedelta(days=1)
    async with store.unit() as uow:
        again = await uow.conversations.remember(
            platform="teams",
            tenant_id="t",
            conversation_id="19:x",
            kind="channel",
            name="",
            reference={**reference, "serviceUrl": "https://smba2.example/"},
            now=later,
        )
    assert again.id == first.id
    async with store.unit() as uow:
        saved = await uow.conversations.find("teams", "t", "19:x")
        assert saved.name == "General"
        assert saved.conversation_reference["serviceUrl"] == "https://smba2.example/"
        assert saved.updated_at == later


async def test_dialog_state_saved_and_cleared(store):
    async with store.unit() as uow:
        member, _ = await uow.members.register(
            platform="console", tenant_id="", user_id="a", display_name="A", now=NOW
        )
        await uow.dialog_states.save(
            member.id, flow="checkin", step="q1", data={"cycle": 3, "answers": [1, 2]}, now=NOW
        )
    async with store.unit() as uow:
        state = await uow.dialog_states.of_member(member.id)
        assert (state.flow, state.step, state.data) == (
            "checkin",
            "q1",
            {"cycle": 3, "answers": [1, 2]},
        )
        await uow.dialog_states.save(member.id, flow="checkin", step="q2", data={}, now=NOW)
    async with store.unit() as uow:
        assert (await uow.dialog_states.of_member(member.id)).step == "q2"
        await uow.dialog_states.clear(member.id)
    async with store.unit() as uow:
        assert await uow.dialog_states.of_member(member.id) is None


async def test_expertise_listed_once_per_member_and_topic(store):
    async with store.unit() as uow:
        member, _ = await uow.members.register(
            platform="console", tenant_id="", user_id="a", display_name="A", now=NOW
        )
        assert await uow.expertise.add(member.id, "Family violence and trauma", now=NOW)
        assert not await uow.expertise.add(member.id, "family VIOLENCE and trauma", now=NOW)
    async with store.unit() as uow:
        assert await uow.expertise.of_member(member.id) == ["Family violence and trauma"]


async def _member_at_step_one(store):
    """A member whose dialog state is saved at check-in step q1."""
    async with store.unit() as uow:
        member, _ = await uow.members.register(
            platform="console", tenant_id="", user_id="a", display_name="A", now=NOW
        )
        await uow.dialog_states.save(member.id, flow="checkin", step="q1", data={}, now=NOW)
    return member


async def test_a_dialog_state_cleared_and_saved_again_in_one_unit_is_kept(store):
    member = await _member_at_step_one(store)
    later = NOW + timedelta(minutes=5)
    async with store.unit() as uow:
        assert (await uow.dialog_states.of_member(member.id)).step == "q1"
        # The DELETE is a statement: the loaded state does not know its row is gone.
        await uow.dialog_states.clear(member.id)
        await uow.dialog_states.save(
            member.id, flow="checkin", step="q2", data={"cycle": 2}, now=later
        )
    async with store.unit() as uow:
        state = await uow.dialog_states.of_member(member.id)
        assert (state.step, state.data, state.updated_at) == ("q2", {"cycle": 2}, later)


async def test_write_now_saves_a_loaded_row_at_once_and_leaves_nothing_to_flush(store):
    member = await _member_at_step_one(store)
    later = NOW + timedelta(hours=1)
    async with store.unit() as uow:
        state = await uow.dialog_states.of_member(member.id)
        assert await write_now(uow.session, state, step="q3", data={"n": [1]}, updated_at=later)
        assert (state.step, state.data) == ("q3", {"n": [1]})
        assert not uow.session.dirty  # written, not waiting for the commit's flush
        # Already in the database, inside this transaction.
        row = (
            await uow.session.execute(
                text("SELECT step FROM dialog_states WHERE member_id = :m"), {"m": member.id}
            )
        ).one()
        assert row.step == "q3"
    async with store.unit() as uow:
        state = await uow.dialog_states.of_member(member.id)
        assert (state.flow, state.step, state.data, state.updated_at) == (
            "checkin",
            "q3",
            {"n": [1]},
            later,
        )


async def test_write_now_changes_nothing_for_a_row_not_there(store):
    async with store.unit() as uow:
        member, _ = await uow.members.register(
            platform="console", tenant_id="", user_id="a", display_name="A", now=NOW
        )
        pending = DialogState(member_id=member.id, flow="f", step="s", data={}, updated_at=NOW)
        uow.session.add(pending)
        assert not await write_now(uow.session, pending, step="t")  # never flushed
        assert pending.step == "s"
    async with store.unit() as uow:
        state = await uow.dialog_states.of_member(member.id)
        await uow.session.execute(delete(DialogState).where(DialogState.member_id == member.id))
        assert not await write_now(uow.session, state, step="gone")
    async with store.unit() as uow:
        assert await uow.dialog_states.of_member(member.id) is None
