"""Pictures of what a model attended to (matplotlib, written to files)."""

from __future__ import annotations

from pathlib import Path

from clients.results import Answer


def plot_gates(answer: Answer, question: str, path: str | Path) -> Path:
    """A heatmap of each memory pass's attention over the story's facts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    passes, facts = len(answer.gates), len(answer.facts)
    figure, axes = plt.subplots(figsize=(4.5 + 0.9 * passes, 1.5 + 0.35 * facts))
    image = axes.imshow([list(row) for row in zip(*answer.gates, strict=True)],
                        cmap="viridis", vmin=0, vmax=1, aspect="auto")
    axes.set_xticks(range(passes), [f"pass {p + 1}" for p in range(passes)])
    axes.set_yticks(range(facts), answer.facts, fontsize=8)
    axes.set_title(f"{question}  →  {answer.answer} ({answer.probability:.2f})", fontsize=9)
    figure.colorbar(image, ax=axes, label="attention gate")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return Path(path)
