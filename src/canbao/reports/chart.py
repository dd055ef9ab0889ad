"""Bar charts as PNG, with Chinese labels (Noto Sans CJK SC from the mplfonts package, so nothing has to be
installed on the machine)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from pathlib import Path

from canbao.outputs import atomic_output

FONT_FILE = "NotoSansCJKsc-Regular.otf"


@cache
def _font_family() -> str:
    from matplotlib import font_manager

    path = files("mplfonts") / "fonts" / FONT_FILE
    font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path)).get_name()


def bar_chart(
    path: Path,
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[float]],
    *,
    value_label: str = "",
    reference: float | None = None,
    reference_label: str = "",
) -> Path:
    """Horizontal bars, one group per label (top to bottom in the given order), one colour per series.

    `reference` draws a vertical line (e.g. 100% of target).  Values are plain numbers for drawing only:
    money stays exact in the workbooks beside the chart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    family = _font_family()
    n, k = len(labels), max(len(series), 1)
    height = 0.8 / k
    figure, axes = plt.subplots(figsize=(10, max(3.0, 0.38 * n * k**0.5 + 1.5)), dpi=120)
    try:
        for j, (name, values) in enumerate(series.items()):
            positions = [i + (j - (k - 1) / 2) * height for i in range(n)]
            bars = axes.barh(positions, list(values), height=height, label=name)
            axes.bar_label(bars, fmt="%.1f" if any(v % 1 for v in values) else "%d", fontsize=7, padding=2,
                           fontfamily=family)  # fmt: skip
        axes.set_yticks(range(n), list(labels), fontfamily=family)
        axes.invert_yaxis()
        axes.set_title(title, fontfamily=family, fontsize=13)
        axes.set_xlabel(value_label, fontfamily=family)
        if reference is not None:
            axes.axvline(reference, color="#C00000", linestyle="--", linewidth=1)
            if reference_label:
                axes.text(reference, -0.7, reference_label, color="#C00000", fontfamily=family, fontsize=8)
        if len(series) > 1:
            axes.legend(prop={"family": family}, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=k)
        axes.grid(axis="x", alpha=0.3)
        figure.tight_layout()
        with atomic_output(path) as temporary:
            figure.savefig(temporary, format=path.suffix.lstrip(".") or "png")
    finally:
        plt.close(figure)
    return path
