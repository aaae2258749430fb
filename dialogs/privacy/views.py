"""What the privacy commands show: the privacy notice, the data download, the erasure prompt,
and a risk as the programme managers receive it."""

from __future__ import annotations

from dialogs.turn import Partnership
from dialogs.views import (
    Actions,
    Block,
    BulletList,
    Button,
    ButtonStyle,
    Facts,
    Heading,
    Paragraph,
    Reply,
    Tone,
    View,
)

ERASE = "mydata delete confirm"


def retention_text(months: int) -> str:
    if months <= 0:
        return (
            "Check-in answers: this partnership has set no retention period, so they are kept "
            "until you erase them (or the partnership removes them)."
        )
    return (
        f"Check-in answers: {months} months after a check-in closes, what was written and who "
        "took part are deleted; the ratings stay, with no names, so later check-ins can still "
        "be compared with it."
    )


def notice(partnership: Partnership) -> tuple[Block, ...]:
    """The privacy notice (``help privacy``): UK GDPR and the Data Protection Act 2018 (what,
    why, how long, who sees it, your rights, who to complain to) and the Australian Privacy
    Principles (collection notice, overseas disclosure, access, correction, complaints), in
    plain words."""
    contact = partnership.privacy_contact or "this partnership's coordinators"
    return (
        Heading("Privacy notice"),
        Paragraph(
            f"partnerbot is run for this learning partnership. Questions about your data go to "
            f"{contact}, who can tell you which organisation is responsible for it and how to "
            "reach its data protection officer."
        ),
        Paragraph("What is kept, and why", Tone.STRONG),
        BulletList(
            (
                "Who you are on Teams or Slack (your user id and name) and how to message you "
                "privately: to know you and to reach you.",
                "Your area, organisation and time zone (you set them with `me`), your roles and "
                "expertise: for the directory, and to send things at sensible times.",
                "Your check-in answers, ratings and what you write: for the partnership's "
                "self-evaluation reports and its action plan.",
                "Your meeting RSVPs and attendance: for reminders and attendance counts.",
                "Practice records you share, actions you own or add, and risks you report.",
                "An audit trail of what coordinators do (check-ins opened and closed, roles "
                "changed, reports exported, data erased).",
            )
        ),
        Paragraph(
            "The partnership uses this only to run its evaluation, meetings and shared "
            "practice: for a public body, as part of its public task. Nothing is sold, used "
            "for marketing, or used to make automated decisions about you.",
            Tone.MUTED,
        ),
        Paragraph("Who sees it", Tone.STRONG),
        BulletList(
            (
                "Your answers are shown only to you, in your private chat with partnerbot, and "
                "to coordinators and programme managers in reports.",
                "In an anonymous check-in your answers are saved with nothing that links them "
                "to you, and reports leave out any area with too few respondents to stay "
                "anonymous.",
                "Members see the directory (names, areas, organisations, expertise), meeting "
                "attendance counts, and practice records with their authors.",
                "Risks you report go privately to the programme managers (if there are none, "
                "to the coordinators).",
                "Messages travel through Microsoft Teams or Slack, which keep their own copies "
                "under their own terms, possibly outside your country.",
            )
        ),
        Paragraph("How long", Tone.STRONG),
        BulletList(
            (
                retention_text(partnership.retention_months),
                "Report files and copies of your data: the download link works for 24 hours.",
                "Everything else: while you are a member, until you erase it.",
            )
        ),
        Paragraph("Your rights", Tone.STRONG),
        BulletList(
            (
                "`mydata export`: a copy of everything held about you, as a file, in private.",
                "`mydata delete`: erase your data (you confirm first). Deleted: your Teams or "
                "Slack identity, profile, roles, expertise, named answers, RSVPs and messages "
                "to you. Kept without your name: anonymous answers (nothing links them to "
                "you), attendance and anonymous check-in counts, practice records you published "
                "(drafts are deleted; to remove a record, `practice withdraw <id>` it first), "
                "actions you owned (unassigned) and risks you reported. The audit trail keeps "
                "what you did as a coordinator, and records the erasure by member number.",
                "Correct your profile with `me area`, `me org` and `me tz`; change an answer "
                "while its check-in is open.",
                f"To complain, ask {contact} first. You can also go to the Information "
                "Commissioner's Office (UK, ico.org.uk) or the Office of the Australian "
                "Information Commissioner (oaic.gov.au; in Victoria, OVIC, ovic.vic.gov.au).",
            )
        ),
    )


def data_ready(filename: str, url: str) -> View:
    return View(
        summary=f"Your data: {filename}: {url}",
        blocks=(
            Heading("Your data"),
            Paragraph(
                f"{filename} holds everything partnerbot keeps about you. The link works for "
                "24 hours; anyone with it can open the file, so don't share it."
            ),
            Actions((Button("Download JSON", "", ButtonStyle.PRIMARY, url=url),)),
        ),
    )


def erase_prompt(*, only_coordinator: bool) -> View:
    blocks: list[Block] = [
        Heading("Erase your data?"),
        Paragraph(
            "This deletes your Teams or Slack identity, your profile, roles and expertise, your "
            "answers in named check-ins, your RSVPs and messages waiting for you. It can't be "
            "undone: if you talk to me again you start as a new member.",
            Tone.WARNING,
        ),
        Paragraph(
            "Kept without your name: anonymous answers, attendance and response counts, "
            "practice records you published (drafts are deleted), actions you owned "
            "(unassigned) and risks you reported. `mydata export` first if you want a copy.",
            Tone.MUTED,
        ),
    ]
    if only_coordinator:
        blocks.append(
            Paragraph(
                "You are the only coordinator: give someone else the role first "
                "(`role <@member> coordinator`), or nobody will be able to run check-ins.",
                Tone.WARNING,
            )
        )
    blocks.append(
        Actions(
            (
                Button("Erase my data", ERASE, ButtonStyle.DANGER),
                Button("Keep it", "help privacy"),
            )
        )
    )
    return View(
        summary=f"Erase your data? It can't be undone. To go ahead: `{ERASE}`.",
        blocks=tuple(blocks),
    )


def erased(counts: dict[str, int]) -> Reply:
    answers = counts.get("named answers", 0)
    text = (
        "Done: your data is erased"
        + (f", including {answers} check-in answer{'s' if answers != 1 else ''}" if answers else "")
        + ". If you talk to me again, you'll start as a new member."
    )
    return Reply(View(summary=text, blocks=(Paragraph(text, Tone.GOOD),)))


def risk_alert(
    *,
    risk_id: int,
    text: str,
    reporter: str,
    area: str | None,
    organisation: str | None,
    when: str,
) -> View:
    return View(
        summary=f"Risk to delivery from {reporter}: {text}",
        blocks=(
            Heading(f"Risk to delivery (risk {risk_id})"),
            Paragraph(text),
            Facts(
                (
                    ("Reported by", reporter),
                    ("Area", area or "not set"),
                    ("Organisation", organisation or "not set"),
                    ("When", when),
                )
            ),
            Paragraph(
                f"Sent to you privately as a programme lead; follow it up with {reporter}.",
                Tone.MUTED,
            ),
        ),
    )
