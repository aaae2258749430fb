from dialogs.messages import (
    ConversationAddress,
    ConversationKind,
    IncomingMessage,
    Platform,
    PlatformUser,
)

ANN = PlatformUser(Platform.CONSOLE, "", "ann", "Ann")
DM = ConversationAddress(Platform.CONSOLE, "", "console:ann", ConversationKind.PERSONAL)


async def test_first_contact_makes_coordinator_and_area_is_saved(core, store):
    first = await core.handle(IncomingMessage(ANN, DM, "area add Marr"))
    texts = [reply.view.summary for reply in first]
    assert texts[0].startswith("Welcome, Ann!")
    assert "coordinator" in texts[1]
    assert texts[2] == "Added the area Marr. Members join it with `me area Marr`."
    async with store.unit() as uow:
        assert [area.name for area in await uow.areas.all()] == ["Marr"]
