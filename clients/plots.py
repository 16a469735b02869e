"""Pictures of what a model attended to (matplotlib, written to files)."""

from __future__ import annotations

from pathlib import Path

from clients.results import Answer, Translation


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, figure, image, label: str, path: str | Path) -> Path:
    """Adds the colour bar, writes the PNG and frees the figure."""
    figure.colorbar(image, ax=image.axes, label=label)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return Path(path)


def plot_gates(answer: Answer, question: str, path: str | Path) -> Path:
    """A heatmap of each memory pass's attention over the story's facts."""
    plt = _pyplot()
    passes, facts = len(answer.gates), len(answer.facts)
    figure, axes = plt.subplots(figsize=(4.5 + 0.9 * passes, 1.5 + 0.35 * facts))
    image = axes.imshow([list(row) for row in zip(*answer.gates, strict=True)],
                        cmap="viridis", vmin=0, vmax=1, aspect="auto")
    axes.set_xticks(range(passes), [f"pass {p + 1}" for p in range(passes)])
    axes.set_yticks(range(facts), answer.facts, fontsize=8)
    axes.set_title(f"{question}  →  {answer.answer} ({answer.probability:.2f})", fontsize=9)
    return _save(plt, figure, image, "attention gate", path)


def plot_attention(translation: Translation, path: str | Path) -> Path:
    """A heatmap of the decoder's attention: source tokens across, target tokens down,
    so each row shows where one output word looked."""
    plt = _pyplot()
    sources, targets = len(translation.source_tokens), len(translation.target_tokens)
    figure, axes = plt.subplots(figsize=(min(3 + 0.45 * sources, 40),
                                         min(2 + 0.35 * targets, 40)))
    weights = [list(row) for row in translation.attention] or [[0.0] * sources]
    image = axes.imshow(weights, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    axes.set_xticks(range(sources), translation.source_tokens, rotation=60, ha="right",
                    fontsize=8)
    axes.set_yticks(range(targets), translation.target_tokens, fontsize=8)
    axes.set_xlabel("source")
    axes.set_ylabel("translation")
    axes.set_title(f"{translation.translation} ({translation.score:.2f})", fontsize=9)
    return _save(plt, figure, image, "attention", path)
