"""Neutral view -> plain text, for the console and as the fallback text of cards."""

from __future__ import annotations

from dialogs.views import (
    Actions,
    BulletList,
    ChoiceInput,
    Facts,
    Heading,
    Image,
    Paragraph,
    TextInput,
    View,
    shown,
)


def render_text(view: View) -> str:
    lines: list[str] = []
    for block in view.blocks:
        match block:
            case Heading(text=text):
                lines.append(text.upper() if len(text) < 60 else text)
            case Paragraph(text=text):
                lines.append(text)
            case Facts(items=items):
                width = max(len(label) for label, _ in items) if items else 0
                lines += [f"{label.ljust(width)}  {value}" for label, value in items]
            case BulletList(items=items):
                lines += [f"  - {item}" for item in items]
            case ChoiceInput(label=label, options=options):
                lines.append(label)
                lines += [f"  {value} = {text}" for value, text in options]
            case TextInput(label=label, value=value):
                lines.append(f"{label}: {value}" if value else f"{label}:")
            case Image(title=title):
                lines.append(f"[chart: {title}]")
            case Actions(buttons=buttons):
                lines.append(
                    "  " + "   ".join(f"[{b.label}: {b.url or b.command}]" for b in buttons)
                )
    # Typed backticks lose their marks; code spans keep their backticks, to copy.
    return shown("\n".join(lines) if lines else view.summary)
