"""Bar charts of ratings as PNG bytes, drawn with matplotlib's Agg renderer.

Each chart is its own ``Figure`` on its own ``FigureCanvasAgg``: nothing goes through pyplot, so
no figure, style or backend setting outlives a call or leaks between concurrent reports.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

# Okabe-Ito: tells colours apart for the common kinds of colour blindness, and prints in grey.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _plain(text: str) -> str:
    # matplotlib reads text between two dollar signs as mathtext, and fails on bad mathtext.
    return text.replace("$", r"\$")


@dataclass(frozen=True, slots=True)
class Series:
    """One group member of every bar group: ``values[i]`` belongs to ``categories[i]``; None
    draws no bar. ``previous`` (same length, or empty) is drawn as a marker on the bar."""

    label: str
    values: tuple[float | None, ...]
    previous: tuple[float | None, ...] = ()


def grouped_bars(
    *,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    levels: Sequence[tuple[int, str]],
    previous_label: str = "Previous cycle",
    empty_note: str = "No ratings to show",
) -> bytes:
    """A PNG of grouped vertical bars on a rating scale.

    ``levels`` are the scale's (value, label) pairs in any order; the y axis shows each value with
    its label. Categories are wrapped onto several lines so long question names stay readable.
    """
    # Imported on the first chart, not when the bot starts: matplotlib and numpy are most of a
    # serving process's memory otherwise (docs/benchmarks.md, memory).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    values = sorted(value for value, _ in levels)
    labels = dict(levels)
    width_inches = max(7.0, 1.4 * len(categories) + 3.0)
    figure = Figure(figsize=(width_inches, 5.0), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(_plain(textwrap.fill(title, 80)), fontsize=12)

    drawn = [s for s in series if any(v is not None for v in s.values)]
    group = 0.8
    bar = group / max(len(series), 1)
    previous_shown = False
    for index, one in enumerate(series):
        offset = (index - (len(series) - 1) / 2) * bar
        xs = [position + offset for position in range(len(categories))]
        heights = [v if v is not None else 0.0 for v in one.values]
        axes.bar(
            xs,
            heights,
            bar * 0.95,
            label=_plain(one.label),
            color=PALETTE[index % len(PALETTE)],
            edgecolor="white",
            linewidth=0.5,
        )
        before = [(x, v) for x, v in zip(xs, one.previous, strict=False) if v is not None]
        if before:
            axes.scatter(
                [x for x, _ in before],
                [v for _, v in before],
                marker="D",
                s=28,
                color="black",
                zorder=3,
                label=None if previous_shown else _plain(previous_label),
            )
            previous_shown = True

    axes.set_xticks(range(len(categories)))
    axes.set_xticklabels([_plain(textwrap.fill(c, 16)) for c in categories], fontsize=8)
    axes.set_xlim(-0.6, len(categories) - 0.4)
    axes.set_ylim(0, (values[-1] if values else 1) + 0.4)
    axes.set_yticks(values)
    axes.set_yticklabels([f"{v} {labels[v]}" for v in values], fontsize=8)
    axes.set_ylabel("Median rating")
    axes.grid(axis="y", color="#dddddd", linewidth=0.6)
    axes.set_axisbelow(True)
    axes.spines[["top", "right"]].set_visible(False)
    if not drawn:
        axes.text(
            0.5,
            0.5,
            _plain(empty_note),
            transform=axes.transAxes,
            ha="center",
            va="center",
            color="grey",
        )
    if series or previous_shown:
        handles, names = axes.get_legend_handles_labels()
        # The bars in drawing order, then the previous-cycle marker.
        order = sorted(range(len(names)), key=lambda i: names[i] == _plain(previous_label))
        axes.legend(
            [handles[i] for i in order],
            [names[i] for i in order],
            loc="upper center",
            bbox_to_anchor=(0.5, -0.18),
            ncol=min(5, len(names)),
            frameon=False,
            fontsize=8,
        )

    buffer = io.BytesIO()
    # No "Software" entry: the bytes then depend only on the drawing, not on the version.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
