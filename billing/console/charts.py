"""A daily spend bar chart as inline SVG, drawn on the server (no script, no CDN).

Bar heights are layout, not money: they are computed from integer
micro-credits with integer arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 600
HEIGHT = 160
GAP = 2


@dataclass(frozen=True, slots=True)
class Bar:
    x: int
    y: int
    width: int
    height: int
    label: str  # day and amount, for the bar's <title>


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    peak_label: str


def daily_bars(days: list[tuple[str, int, str]]) -> Chart:
    """``days``: (day, spend micro-credits, spend as text), oldest first."""
    peak = max((micro for _, micro, _ in days), default=0)
    slot = WIDTH // max(len(days), 1)
    bars = []
    for index, (day, micro, text) in enumerate(days):
        height = (max(micro, 0) * HEIGHT) // peak if peak > 0 else 0
        if micro > 0:
            height = max(height, 1)  # a day with any spend stays visible
        bars.append(
            Bar(
                x=index * slot + GAP // 2,
                y=HEIGHT - height,
                width=max(slot - GAP, 1),
                height=height,
                label=f"{day}: {text}",
            )
        )
    peak_text = next((text for _, micro, text in days if micro == peak), "0")
    return Chart(WIDTH, HEIGHT, bars, peak_text)
