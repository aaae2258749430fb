"""Check-in commands: open a cycle, answer privately one question at a time, follow up, close."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from dialogs import permissions
from dialogs.checkins import views
from dialogs.outbox import MAX_LATENESS, Kind, ToMember, cancel, privately, queue
from dialogs.parser import Command, UsageError, parse
from dialogs.turn import Refusal, Turn
from dialogs.views import BulletList, Facts, Heading, Paragraph, Reply, Tone, View, text_reply
from storage.models import Cycle, Member, Participant, Response
from storage.repositories import UnitOfWork

if TYPE_CHECKING:
    from config.frameworks import Framework

FLOW = "checkin"
NUDGE_OFFSETS = (timedelta(days=7), timedelta(days=2))
NUDGE_LOCAL_TIME = time(10, 0)  # within working hours, in each member's own zone
DEFAULT_OPEN_DAYS = 28
# min=: fewer than 2 would show one person's answers on their own.
MIN_RESPONDENTS = range(2, 101)
# Typed words that steer the flow rather than answer it.
CONTROL_WORDS = {"skip", "later", "help", "stop", "cancel"}


# -- helpers ---------------------------------------------------------------------------------


def _framework(turn: Turn, key: str) -> Framework:
    framework = turn.partnership.frameworks.get(key)
    if framework is None:
        known = ", ".join(sorted(turn.partnership.frameworks)) or "none are installed"
        raise Refusal(f"There's no framework `{key}`. Frameworks: {known}.")
    return framework


async def zone_of(uow: UnitOfWork, member: Member, default: str) -> str:
    if member.timezone:
        return member.timezone
    if member.area_id is not None:
        area = await uow.areas.get(member.area_id)
        if area is not None and area.timezone:
            return area.timezone
    return default


def at_local(day: date, clock_time: time, zone: str) -> datetime:
    return datetime.combine(day, clock_time, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def _nudge_prefix(cycle_id: int, member_id: int) -> str:
    return f"checkin:{cycle_id}:member:{member_id}:nudge"


def nudge_day(closes_on: date, before: timedelta) -> date:
    """The day of the nudge ``before`` the closing day: a weekday, so a Saturday or Sunday
    moves to the Friday before (nobody reads a nudge at the weekend)."""
    day = closes_on - before
    return day - timedelta(days=max(0, day.weekday() - 4))


async def _open_cycle_for(turn: Turn) -> tuple[Cycle, Participant] | None:
    """The open cycle this member takes part in (joining it if their area is in it)."""
    cycle = await turn.uow.checkins.open_cycle()
    if cycle is None:
        return None
    participant = await turn.uow.checkins.participant(cycle.id, turn.member.id)
    if participant is None:
        area_ids = {a.id for a in await turn.uow.checkins.areas_of(cycle.id)}
        if turn.member.area_id not in area_ids:
            return None
        await turn.uow.checkins.invite(cycle.id, [turn.member], turn.now)
        participant = await turn.uow.checkins.participant(cycle.id, turn.member.id)
        assert participant is not None
    return cycle, participant


def _next_question(cycle: Cycle, participant: Participant) -> int | None:
    return next((n for n in cycle.questions if n not in participant.answered), None)


# -- frameworks and opening -------------------------------------------------------------------


async def frameworks(turn: Turn, command: Command) -> Sequence[Reply]:
    items = sorted(turn.partnership.frameworks.values(), key=lambda f: f.key != "qi-3.2")
    if not items:
        return (text_reply("No self-evaluation frameworks are installed."),)
    lines = tuple(
        f"{f.key} - {f.title} ({len(f.questions)} questions, {len(f.scale.levels)}-point scale)"
        for f in items
    )
    return (
        Reply(
            View(
                summary="Frameworks: " + ", ".join(f.key for f in items),
                blocks=(
                    Heading("Self-evaluation frameworks"),
                    BulletList(lines),
                    Paragraph(
                        "Open one with `checkin start <framework> questions=1,3,4,7 areas=all "
                        "closes=YYYY-MM-DD [anonymous [min=<n>]]`.",
                        Tone.MUTED,
                    ),
                ),
            )
        ),
    )


async def start(turn: Turn, command: Command) -> Sequence[Reply]:
    uow = turn.uow
    framework = _framework(turn, command.get("framework"))
    numbers = command.get("questions") or framework.question_numbers
    unknown = [n for n in numbers if n not in framework.question_numbers]
    if unknown:
        raise Refusal(
            f"{framework.key} has no question {', '.join(map(str, unknown))}; its "
            f"questions are {', '.join(map(str, framework.question_numbers))}."
        )
    anonymous = bool(command.get("anonymous"))
    min_respondents = command.get("min")
    if min_respondents is not None and not anonymous:
        raise UsageError(
            "min= is for anonymous check-ins (add `anonymous`): the reports of named ones "
            "show every area.",
            command.spec,
        )
    if min_respondents is not None and min_respondents not in MIN_RESPONDENTS:
        raise UsageError(
            f"min= takes a number of respondents from {MIN_RESPONDENTS.start} to "
            f"{MIN_RESPONDENTS.stop - 1}, not {min_respondents}.",
            command.spec,
        )
    if min_respondents is None:
        min_respondents = turn.partnership.min_respondents
    all_areas = await uow.areas.all()
    wanted = command.get("areas") or ("all",)
    if [w.casefold() for w in wanted] == ["all"]:
        areas = all_areas
    else:
        by_key = {a.key: a for a in all_areas}
        missing = [w for w in wanted if " ".join(w.split()).casefold() not in by_key]
        if missing:
            raise Refusal(
                f"There's no area called {', '.join(missing)}. Areas: "
                f"{', '.join(a.name for a in all_areas) or 'none yet'}."
            )
        areas = [by_key[" ".join(w.split()).casefold()] for w in wanted]
    if not areas:
        raise Refusal("There are no areas yet: add them with `area add <name>` first.")
    everywhere = [w.casefold() for w in wanted] == ["all"]
    await permissions.require_areas(
        turn,
        [permissions.WHOLE_PARTNERSHIP] if everywhere else [a.id for a in areas],
        what="open a check-in for " + ("every area" if everywhere else "those areas"),
    )
    zone = await turn.zone_name()
    today = turn.now.astimezone(ZoneInfo(zone)).date()
    closes_on = command.get("closes") or today + timedelta(days=DEFAULT_OPEN_DAYS)
    if closes_on < today:
        raise Refusal(f"The closing date {closes_on:%d %b %Y} is in the past.")
    existing = await uow.checkins.open_cycle()
    if existing is not None:
        raise Refusal(
            f"A check-in is already open ({existing.framework_key}, closing "
            f"{views.local(existing.closes_at, zone)}). Close it with "
            "`checkin close` first."
        )
    closes_at = at_local(closes_on, time(23, 59), zone)
    cycle = await uow.checkins.open(
        Cycle(
            framework_key=framework.key,
            questions=sorted(numbers),
            anonymous=anonymous,
            min_respondents=min_respondents,
            opened_by_id=turn.member.id,
            opened_at=turn.now,
            closes_at=closes_at,
            status="open",
        ),
        [a.id for a in areas],
    )
    invited: list[Member] = []
    for area in areas:
        invited += await uow.members.in_area(area.id)
    await uow.checkins.invite(cycle.id, invited, turn.now)
    await uow.audit.record(
        actor=turn.member,
        action="cycle opened",
        subject=f"check-in {cycle.id}: {framework.short_title}",
        detail={
            "questions": cycle.questions,
            "areas": [a.name for a in areas],
            "anonymous": cycle.anonymous,
            **({"min respondents": cycle.min_respondents} if cycle.anonymous else {}),
            "invited": len(invited),
        },
        now=turn.now,
    )
    for member in invited:
        member_zone = await zone_of(uow, member, turn.partnership.timezone)
        await queue(
            uow,
            key=f"checkin:{cycle.id}:member:{member.id}:invite",
            kind=Kind.CHECKIN_INVITE,
            to=ToMember(member.id),
            view=views.invitation(framework, cycle, member_zone),
            due_at=turn.now,
            now=turn.now,
            not_after=closes_at,
        )
    unplaced = await uow.members.count() - sum((await uow.areas.member_counts()).values())
    lines = [
        f"Opened {framework.short_title} (questions {', '.join(map(str, cycle.questions))}) "
        f"for {len(areas)} area{'s' if len(areas) != 1 else ''}, closing "
        f"{views.local(closes_at, zone)} ({zone}).",
        f"Inviting {len(invited)} member{'s' if len(invited) != 1 else ''} privately"
        + (", anonymously." if cycle.anonymous else "."),
    ]
    if cycle.anonymous:
        lines.append(
            f"Reports will leave out any area with fewer than {cycle.min_respondents} "
            "respondents, and say so."
        )
    if unplaced:
        lines.append(
            f"{unplaced} member{'s have' if unplaced != 1 else ' has'} no area and "
            "won't be asked until they set one with `me area`."
        )
    earlier = await uow.checkins.previous_cycle(cycle)
    if earlier is not None:
        plan = await uow.actions.listed(cycle_id=earlier.id)
        if plan:
            done = sum(1 for item in plan if item.status == "done")
            lines.append(
                f"Action plan from the previous cycle: {done} of {len(plan)} done "
                "(`actions` lists them; the report shows the progress)."
            )
    return (
        Reply(
            View(
                summary=" ".join(lines),
                blocks=(
                    Heading(f"Check-in {cycle.id} opened"),
                    *(Paragraph(line) for line in lines),
                ),
            )
        ),
    )


# -- answering --------------------------------------------------------------------------------


async def resume(turn: Turn, command: Command) -> Sequence[Reply]:
    found = await _open_cycle_for(turn)
    if found is None:
        return (text_reply("There's no open check-in for you right now."),)
    cycle, participant = found
    framework = _framework(turn, cycle.framework_key)
    return await privately(
        turn,
        await _current_view(turn, framework, cycle, participant),
        key=f"checkin:{cycle.id}:member:{turn.member.id}:dm",
        note="Check-ins are answered privately: I've sent you a direct message.",
    )


async def _current_view(
    turn: Turn,
    framework: Framework,
    cycle: Cycle,
    participant: Participant,
    responses: dict[int, Response] | None = None,
) -> View:
    number = _next_question(cycle, participant)
    if number is None:
        await turn.uow.dialog_states.clear(turn.member.id)
        return views.finished(framework, cycle, await turn.zone_name())
    await turn.uow.dialog_states.save(
        turn.member.id,
        flow=FLOW,
        step="rating",
        data={"cycle": cycle.id, "question": number},
        now=turn.now,
    )
    if cycle.anonymous:
        previous = None
    elif responses is not None:
        previous = responses.get(number)
    else:
        previous = await turn.uow.checkins.named_response(cycle.id, turn.member.id, number)
    return views.question(framework, cycle, number, previous=previous)


async def _answerable(
    turn: Turn, command: Command
) -> tuple[Framework, Cycle, Participant, int, dict[int, Response]]:
    """The check-in a button's answer is for, the member's place in it, the question, and
    their saved answers in it (read with the cycle, in one query; none for an anonymous cycle,
    where nothing is theirs by name); or the refusal."""
    if not turn.message.is_direct:
        raise Refusal("Check-in answers are given privately: message me directly.")
    cycle, participant, saved = await turn.uow.checkins.answering(
        command.get("cycle"), turn.member.id
    )
    if cycle is None or cycle.status != "open":
        raise Refusal("That check-in has closed; answers can no longer be changed.")
    if participant is None:
        raise Refusal("You're not taking part in that check-in.")
    number = command.get("question")
    if number not in cycle.questions:
        raise Refusal(f"Question {number} is not part of this check-in.")
    return _framework(turn, cycle.framework_key), cycle, participant, number, saved


def _rating_from(framework: Framework, raw: str | None) -> int | None:
    if raw is None or not raw.strip():
        return None
    raw = raw.strip().casefold()
    for level in framework.scale.levels:
        if raw in (str(level.value), level.label.casefold()):
            return level.value
    raise Refusal(
        f"`{raw}` is not on the scale: use {', '.join(map(str, framework.scale.values))}"
        " or a label such as " + framework.scale.levels[0].label + "."
    )


def _texts_from(framework: Framework, values: dict[str, str]) -> dict[str, str]:
    texts = {}
    for prompt in framework.prompts:
        text = (values.get(prompt.key) or "").strip()
        if len(text) > views.MAX_ANSWER:
            raise Refusal(
                f'Your answer to "{prompt.text}" is too long ({len(text)} '
                f"characters; the most is {views.MAX_ANSWER})."
            )
        if text:
            texts[prompt.key] = text
    return texts


async def _save(
    turn: Turn,
    cycle: Cycle,
    participant: Participant,
    number: int,
    *,
    rating: int | None,
    texts: dict[str, str],
    skipped: bool,
    responses: dict[int, Response] | None = None,
) -> bool:
    """Save one answer; False when nothing changed (a double-clicked button)."""
    checkins = turn.uow.checkins
    if cycle.anonymous:
        if number in participant.answered:
            return False
        await checkins.save_anonymous(
            cycle_id=cycle.id,
            area_id=participant.area_id,
            question=number,
            rating=rating,
            texts=texts,
            skipped=skipped,
            day=turn.now.date(),
        )
        changed = True
    else:
        changed = await checkins.save_named(
            cycle_id=cycle.id,
            member_id=turn.member.id,
            area_id=participant.area_id,
            question=number,
            rating=rating,
            texts=texts,
            skipped=skipped,
            now=turn.now,
            responses=responses,
        )
    return await _responded(turn, cycle, participant, number) or changed


async def _responded(turn: Turn, cycle: Cycle, participant: Participant, number: int) -> bool:
    """Record that question ``number`` has been answered (kept apart from the answer itself);
    False when it already was."""
    changed = number not in participant.answered
    if changed:
        participant.answered = [*participant.answered, number]
    participant.status = "done" if _next_question(cycle, participant) is None else "started"
    if participant.status == "done":
        await cancel(turn.uow, _nudge_prefix(cycle.id, turn.member.id))
    return changed


async def _save_anonymous_piece(
    turn: Turn,
    cycle: Cycle,
    participant: Participant,
    number: int,
    *,
    rating: int | None = None,
    texts: dict[str, str] | None = None,
) -> None:
    """One typed piece of an anonymous answer, saved the moment it is given as a row of its
    own: nothing of it waits in the member's dialog state, and no row joins the pieces to
    each other or to them."""
    await turn.uow.checkins.save_anonymous(
        cycle_id=cycle.id,
        area_id=participant.area_id,
        question=number,
        rating=rating,
        texts=texts or {},
        skipped=False,
        day=turn.now.date(),
    )
    await _responded(turn, cycle, participant, number)


async def answer(turn: Turn, command: Command) -> Sequence[Reply]:
    # Every refusal comes before the first write (its spec says so: no savepoint).
    # The answer saved before and the next question's come with the cycle, in one query.
    framework, cycle, participant, number, saved = await _answerable(turn, command)
    values = {item.name: item.value for item in turn.message.form}
    rating = _rating_from(framework, values.get("rating"))
    texts = _texts_from(framework, values)
    if rating is None and not texts:
        raise Refusal("Pick a rating or write something first, or press Skip.")
    responses = None if cycle.anonymous else saved
    if not await _save(
        turn,
        cycle,
        participant,
        number,
        rating=rating,
        texts=texts,
        skipped=False,
        responses=responses,
    ):
        return ()  # the same answer again: a double click
    return await _after_save(
        turn, framework, cycle, participant, f"Saved question {number}.", responses
    )


async def skip(turn: Turn, command: Command) -> Sequence[Reply]:
    # Every refusal comes before the first write (its spec says so: no savepoint).
    framework, cycle, participant, number, _ = await _answerable(turn, command)
    # What is on the card pressed (a rating picked, a reflection written) is kept.
    values = {item.name: item.value for item in turn.message.form}
    rating = _rating_from(framework, values.get("rating"))
    return await _skip_question(
        turn,
        framework,
        cycle,
        participant,
        number,
        rating=rating,
        texts=_texts_from(framework, values),
    )


async def _skip_question(
    turn: Turn,
    framework: Framework,
    cycle: Cycle,
    participant: Participant,
    number: int,
    *,
    rating: int | None,
    texts: dict[str, str],
) -> Sequence[Reply]:
    """Skip question ``number`` without losing what was given of it: a rating or reflections
    given with the skip are saved, an answer saved before is kept; only a question with no
    answer at all is marked skipped. A double-clicked Skip saves once and answers once."""
    if rating is not None or texts:
        changed = await _save(
            turn, cycle, participant, number, rating=rating, texts=texts, skipped=False
        )
        note = f"Saved question {number}; skipped the rest of it."
    elif await _has_answer(turn, cycle, number):
        changed, note = True, f"Kept your answer to question {number}."
    else:
        changed = await _save(turn, cycle, participant, number, rating=None, texts={}, skipped=True)
        note = f"Skipped question {number}."
    if not changed and turn.message.is_button:
        return ()
    return await _after_save(turn, framework, cycle, participant, note)


async def _has_answer(turn: Turn, cycle: Cycle, number: int) -> bool:
    """Whether the member's saved answer to ``number`` says something (never known for an
    anonymous cycle: nothing links an answer to them)."""
    if cycle.anonymous:
        return False
    saved = await turn.uow.checkins.named_response(cycle.id, turn.member.id, number)
    return saved is not None and (saved.rating is not None or bool(saved.texts))


async def _after_save(
    turn: Turn,
    framework: Framework,
    cycle: Cycle,
    participant: Participant,
    note: str,
    responses: dict[int, Response] | None = None,
) -> Sequence[Reply]:
    """What was saved and the next question, in one message (one send, one notification)."""
    view = await _current_view(turn, framework, cycle, participant, responses)
    return (
        Reply(
            View(
                summary=f"{note} {view.summary}",
                blocks=(Paragraph(note, Tone.GOOD), *view.blocks),
            )
        ),
    )


async def edit(turn: Turn, command: Command) -> Sequence[Reply]:
    framework, cycle, _participant, number, _ = await _answerable(turn, command)
    if cycle.anonymous:
        raise Refusal(
            "Answers in an anonymous check-in can't be changed: nothing links them to you."
        )
    previous = await turn.uow.checkins.named_response(cycle.id, turn.member.id, number)
    await turn.uow.dialog_states.save(
        turn.member.id,
        flow=FLOW,
        step="rating",
        data={"cycle": cycle.id, "question": number},
        now=turn.now,
    )
    return (Reply(views.question(framework, cycle, number, previous=previous)),)


async def later(turn: Turn, command: Command) -> Sequence[Reply]:
    await turn.uow.dialog_states.clear(turn.member.id)
    return (
        text_reply(
            "OK. Your answers so far are saved; type `checkin` when you're ready to carry on."
        ),
    )


async def typed(turn: Turn, state: Any) -> Sequence[Reply] | None:
    """A typed message while a question is waiting: a rating, then each reflection prompt.
    Returns None when the text is not for the flow (a command word)."""
    text = turn.message.text.strip()
    word = text.casefold()
    if word in {"help", "checkin"} or word.startswith("/"):
        return None
    # A deep copy: editing the loaded JSON in place would hide the change from the ORM.
    data = copy.deepcopy(state.data)
    cycle, participant = await turn.uow.checkins.cycle_and_participant(
        data["cycle"], turn.member.id
    )
    if cycle is None or cycle.status != "open" or participant is None:
        await turn.uow.dialog_states.clear(turn.member.id)
        return None
    framework = _framework(turn, cycle.framework_key)
    number = data["question"]
    draft: dict[str, Any] = data.get("draft", {})
    if word in {"later", "stop", "cancel"}:
        if draft:
            await _save_draft(turn, cycle, participant, number, draft)
        await turn.uow.dialog_states.clear(turn.member.id)
        return (
            text_reply(
                "OK. Your answers so far are saved; type `checkin` when you're ready to carry on."
            ),
        )
    if word == "skip" and state.step != "rating":
        # On a reflection prompt the rating has been given: "skip" skips the rest of the
        # question and keeps it (anonymous pieces are saved already, each on its own).
        if not cycle.anonymous:
            await _save_draft(turn, cycle, participant, number, draft)
        return await _after_save(
            turn, framework, cycle, participant, f"Saved question {number}; skipped the rest of it."
        )
    if word == "skip":
        return await _skip_question(
            turn, framework, cycle, participant, number, rating=None, texts={}
        )
    prompts = list(framework.prompts)
    piece: dict[str, Any]
    if state.step == "rating":
        try:
            rating = _rating_from(framework, text)
        except Refusal:
            if _is_command(text):
                return None  # "me", "areas"...: a command, not an answer
            raise
        if cycle.anonymous and number in participant.answered:
            # Anonymous answers can't be changed: nothing says which rows were this member's.
            await turn.uow.dialog_states.clear(turn.member.id)
            return await _after_save(
                turn, framework, cycle, participant, f"Question {number} is already answered."
            )
        draft = {"rating": rating, "texts": {}}
        piece = {"rating": rating}
        step = prompts[0].key
    else:
        if len(text) > views.MAX_ANSWER:
            raise Refusal(
                f"That's too long ({len(text)} characters; the most is {views.MAX_ANSWER})."
            )
        piece = {}
        if text not in {"-", "none"}:
            draft["texts"] = {**draft.get("texts", {}), state.step: text}
            piece = {"texts": {state.step: text}}
        keys = [p.key for p in prompts]
        position = keys.index(state.step) + 1
        step = keys[position] if position < len(keys) else "done"
    if cycle.anonymous:
        if piece:
            await _save_anonymous_piece(turn, cycle, participant, number, **piece)
        if step == "done":
            return await _after_save(
                turn, framework, cycle, participant, f"Saved question {number}."
            )
        # Where they are, never what they said.
        await turn.uow.dialog_states.save(
            turn.member.id,
            flow=FLOW,
            step=step,
            data={"cycle": cycle.id, "question": number},
            now=turn.now,
        )
        return (Reply(views.prompt_text(framework.prompt(step).text)),)
    # Named answers are saved the moment they are given, too.
    await turn.uow.checkins.save_named(
        cycle_id=cycle.id,
        member_id=turn.member.id,
        area_id=participant.area_id,
        question=number,
        rating=draft.get("rating"),
        texts=draft.get("texts", {}),
        skipped=False,
        now=turn.now,
    )
    if step == "done":
        await _save_draft(turn, cycle, participant, number, draft)
        return await _after_save(turn, framework, cycle, participant, f"Saved question {number}.")
    await turn.uow.dialog_states.save(
        turn.member.id, flow=FLOW, step=step, data={**data, "draft": draft}, now=turn.now
    )
    prompt = framework.prompt(step)
    return (Reply(views.prompt_text(prompt.text)),)


async def _save_draft(
    turn: Turn, cycle: Cycle, participant: Participant, number: int, draft: dict[str, Any]
) -> None:
    """What was typed of a named answer so far, as the answer."""
    await _save(
        turn,
        cycle,
        participant,
        number,
        rating=draft.get("rating"),
        texts=draft.get("texts", {}),
        skipped=False,
    )


def _is_command(text: str) -> bool:
    try:
        parse(text)
    except UsageError:
        return False
    return True


# -- following up -----------------------------------------------------------------------------


async def _cycle_for_coordinator(turn: Turn) -> Cycle:
    cycle = await turn.uow.checkins.open_cycle()
    if cycle is None:
        raise Refusal("There's no open check-in. Open one with `checkin start`.")
    return cycle


async def status(turn: Turn, command: Command) -> Sequence[Reply]:
    cycle = await _cycle_for_coordinator(turn)
    framework = _framework(turn, cycle.framework_key)
    zone = await turn.zone_name()
    participants = await turn.uow.checkins.participants(cycle.id)
    areas = {a.id: a.name for a in await turn.uow.checkins.areas_of(cycle.id)}
    # An area's coordinator sees their areas' part of a check-in that spans several.
    part = await permissions.require_part(turn, areas, what=f"see check-in {cycle.id}")
    if part is not None:
        participants = [(p, m) for p, m in participants if p.area_id in part]
        areas = {a: name for a, name in areas.items() if a in part}
    invited: Counter[str] = Counter()
    done: Counter[str] = Counter()
    started: Counter[str] = Counter()
    outstanding: dict[str, list[str]] = {}
    for participant, member in participants:
        area = areas.get(participant.area_id, "No area")
        invited[area] += 1
        if participant.status == "done":
            done[area] += 1
        else:
            if participant.status == "started":
                started[area] += 1
            outstanding.setdefault(area, []).append(member.display_name)
    for unnamed in await turn.uow.checkins.unnamed_participants(cycle.id):
        if part is not None and unnamed.area_id not in part:
            continue
        # Someone in this anonymous cycle erased their data: counted, never listed.
        area = areas.get(unnamed.area_id, "No area")
        invited[area] += 1
        done[area] += unnamed.status == "done"
        started[area] += unnamed.status == "started"
    facts = tuple(
        (
            area,
            f"{done[area]} of {invited[area]} done ({_pct(done[area], invited[area])}), "
            f"{started[area]} part-way",
        )
        for area in sorted(invited)
    )
    total_done, total = sum(done.values()), sum(invited.values())
    blocks: list = [
        Heading(f"Check-in {cycle.id}: {framework.short_title}"),
        Paragraph(
            f"{total_done} of {total} members done ({_pct(total_done, total)}); closes "
            f"{views.local(cycle.closes_at, zone)}."
        ),
        Facts(facts) if facts else Paragraph("Nobody was invited.", Tone.MUTED),
    ]
    if cycle.anonymous:
        blocks.append(Paragraph("Anonymous check-in: who is outstanding is not shown.", Tone.MUTED))
    elif outstanding:
        blocks += [
            Paragraph("Still to finish:", Tone.STRONG),
            BulletList(
                tuple(f"{area}: {', '.join(names)}" for area, names in sorted(outstanding.items()))
            ),
        ]
    unreachable = {m.id for m, _ in await turn.uow.members.unreachable()}
    cut_off = [
        member.display_name
        for p, member in participants
        if member.id in unreachable and p.status != "done"
    ]
    if cut_off:
        blocks.append(
            Paragraph(
                "Can't be reached (the platform refused messages): " + ", ".join(cut_off),
                Tone.WARNING,
            )
        )
    return (
        Reply(
            View(summary=f"Check-in {cycle.id}: {total_done} of {total} done", blocks=tuple(blocks))
        ),
    )


def _pct(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "-"


async def remind(turn: Turn, command: Command) -> Sequence[Reply]:
    cycle = await _cycle_for_coordinator(turn)
    framework = _framework(turn, cycle.framework_key)
    reminded = 0
    cycle_areas = [a.id for a in await turn.uow.checkins.areas_of(cycle.id)]
    part = await permissions.require_part(turn, cycle_areas, what=f"remind check-in {cycle.id}")
    for participant, member in await turn.uow.checkins.participants(cycle.id):
        if participant.status == "done" or (part is not None and participant.area_id not in part):
            continue
        zone = await zone_of(turn.uow, member, turn.partnership.timezone)
        await queue(
            turn.uow,
            key=f"checkin:{cycle.id}:member:{member.id}:remind:{turn.now:%Y%m%dT%H%M}",
            kind=Kind.CHECKIN_NUDGE,
            to=ToMember(member.id),
            view=views.reminder(framework, cycle, zone, len(participant.answered)),
            due_at=turn.now,
            now=turn.now,
            not_after=cycle.closes_at,
        )
        reminded += 1
    if not reminded:
        return (text_reply("Everyone has finished: nobody to remind."),)
    return (
        text_reply(
            f"Reminding {reminded} member{'s' if reminded != 1 else ''} who haven't finished.",
            tone=Tone.GOOD,
        ),
    )


async def close(turn: Turn, command: Command) -> Sequence[Reply]:
    cycle = await _cycle_for_coordinator(turn)
    # Closing closes it for every area it covers: for the coordinators of all of them.
    covers = await turn.uow.checkins.areas_of(cycle.id)
    await permissions.require_areas(
        turn,
        [a.id for a in covers],
        what=f"close check-in {cycle.id}, which covers {', '.join(a.name for a in covers)}",
    )
    summary = await close_cycle(turn.uow, cycle, turn.now, by=turn.member)
    return (text_reply(summary + " See it with `checkin report`.", tone=Tone.GOOD),)


async def close_cycle(
    uow: UnitOfWork, cycle: Cycle, now: datetime, *, by: Member | None = None
) -> str:
    """Close ``cycle``: by a coordinator, or (``by`` None) at its closing time."""
    cycle.status = "closed"
    cycle.closed_at = now
    await uow.audit.record(
        actor=by,
        action="cycle closed",
        subject=f"check-in {cycle.id} ({cycle.framework_key})",
        detail={"on time": by is None},
        now=now,
    )
    await cancel(uow, f"checkin:{cycle.id}:")
    participants = await uow.checkins.participants(cycle.id)
    done = sum(1 for p, _ in participants if p.status == "done")
    for participant, member in participants:
        if participant.status != "done":
            await uow.dialog_states.clear(member.id)
    return (
        f"Check-in {cycle.id} ({cycle.framework_key}) is closed: {done} of "
        f"{len(participants)} members finished."
    )


async def close_due(uow: UnitOfWork, now: datetime) -> int:
    """The scheduled job: close cycles whose closing time has passed, and tell who opened them."""
    closed = 0
    for cycle in await uow.checkins.due_to_close(now):
        summary = await close_cycle(uow, cycle, now)
        if cycle.opened_by_id is not None:
            await queue(
                uow,
                key=f"checkin:{cycle.id}:closed",
                kind=Kind.NOTICE,
                to=ToMember(cycle.opened_by_id),
                view=View(
                    summary=summary,
                    blocks=(
                        Paragraph(summary),
                        Paragraph("See it with `checkin report`.", Tone.MUTED),
                    ),
                ),
                due_at=now,
                now=now,
            )
        closed += 1
    return closed


async def queue_nudges(
    uow: UnitOfWork, now: datetime, *, frameworks: Mapping[str, Framework], default_zone: str
) -> int:
    """The scheduled job: on each nudge day (7 and 2 days before close, on a weekday) at 10:00
    in each member's own zone, queue a nudge to those who haven't finished, with how far they
    have got. Queued when it falls due, so it says where they are then; keyed, so once."""
    queued = 0
    cycle = await uow.checkins.open_cycle()
    if cycle is None or cycle.framework_key not in frameworks:
        return 0
    framework = frameworks[cycle.framework_key]
    for participant, member in await uow.checkins.participants(cycle.id):
        if participant.status == "done":
            continue
        zone = await zone_of(uow, member, default_zone)
        closes_on = cycle.closes_at.astimezone(ZoneInfo(zone)).date()
        for before in NUDGE_OFFSETS:
            due = at_local(nudge_day(closes_on, before), NUDGE_LOCAL_TIME, zone)
            # Not for a moment before they were asked, nor hours late after a restart.
            if not (max(cycle.opened_at, participant.invited_at) < due <= now):
                continue
            if now - due > MAX_LATENESS[Kind.CHECKIN_NUDGE]:
                continue
            if await queue(
                uow,
                key=f"{_nudge_prefix(cycle.id, member.id)}:{before.days}d",
                kind=Kind.CHECKIN_NUDGE,
                to=ToMember(member.id),
                view=views.reminder(framework, cycle, zone, len(participant.answered)),
                due_at=due,
                now=now,
                not_after=min(cycle.closes_at, due + MAX_LATENESS[Kind.CHECKIN_NUDGE]),
            ):
                queued += 1
    return queued


HANDLERS = {
    ("checkin",): resume,
    ("checkin", "frameworks"): frameworks,
    ("checkin", "start"): start,
    ("checkin", "answer"): answer,
    ("checkin", "skip"): skip,
    ("checkin", "edit"): edit,
    ("checkin", "later"): later,
    ("checkin", "status"): status,
    ("checkin", "remind"): remind,
    ("checkin", "close"): close,
}
