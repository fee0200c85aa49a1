"""Small server-side SVG charts for the dashboard: no script, no external library, a text alternative each."""

from __future__ import annotations

from markupsafe import Markup, escape

WIDTH = 640
HEIGHT = 200
PAD = 30
COLOURS = ("#2a6f97", "#e09f3e", "#9e2a2b", "#6a994e")


def bar_chart(labels: list[str], values: list[int], title: str) -> Markup:
    """Vertical bars, one per label, with the title as the accessible name."""
    top = max(values, default=0) or 1
    step = (WIDTH - 2 * PAD) / max(len(values), 1)
    bars = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        height = (HEIGHT - 2 * PAD) * value / top
        x = PAD + i * step
        bars.append(
            f'<rect x="{x + 1:.1f}" y="{HEIGHT - PAD - height:.1f}" width="{max(step - 2, 1):.1f}" '
            f'height="{height:.1f}" fill="{COLOURS[0]}"><title>{escape(label)}: {value}</title></rect>'
        )
    return _svg(title, "".join(bars), labels, top)


def line_chart(labels: list[str], series: dict[str, list[float]], title: str) -> Markup:
    """One line per series over the labels (rates from 0 to 1)."""
    step = (WIDTH - 2 * PAD) / max(len(labels) - 1, 1)
    lines = []
    for colour, (name, values) in zip(COLOURS, series.items(), strict=False):
        points = " ".join(
            f"{PAD + i * step:.1f},{HEIGHT - PAD - (HEIGHT - 2 * PAD) * v:.1f}" for i, v in enumerate(values)
        )
        lines.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2">'
            f"<title>{escape(name)}</title></polyline>"
        )
        lines += [  # a dot per day, so a single day still shows
            f'<circle cx="{PAD + i * step:.1f}" cy="{HEIGHT - PAD - (HEIGHT - 2 * PAD) * v:.1f}" r="3" '
            f'fill="{colour}"><title>{escape(name)} {escape(labels[i])}: {v:.0%}</title></circle>'
            for i, v in enumerate(values)
        ]
    legend = "".join(
        f'<text x="{PAD + 120 * i}" y="14" fill="{colour}" font-size="12">{escape(name)}</text>'
        for i, (colour, name) in enumerate(zip(COLOURS, series, strict=False))
    )
    return _svg(title, legend + "".join(lines), labels, 1)


def _svg(title: str, body: str, labels: list[str], top: float) -> Markup:
    axis = (
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>'
        f'<text x="2" y="{PAD}" font-size="11">{top:g}</text>'
    )
    if labels:
        axis += (
            f'<text x="{PAD}" y="{HEIGHT - 8}" font-size="11">{escape(labels[0])}</text>'
            f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" font-size="11" text-anchor="end">'
            f"{escape(labels[-1])}</text>"
        )
    return Markup(
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" class="chart">'
        f"<title>{escape(title)}</title>{axis}{body}</svg>"
    )
