"""Classification figures shared by the truth evaluation and the human-label agreement."""

from __future__ import annotations


def ratio(num: float, den: float) -> float | None:
    """``num / den``, or None when there is nothing to divide by."""
    return num / den if den else None


def precision_recall_f1(
    tp: int, fp: int, fn: int
) -> tuple[float | None, float | None, float | None]:
    """Precision, recall and F1 of a binary decision (None where undefined)."""
    precision = ratio(tp, tp + fp)
    recall = ratio(tp, tp + fn)
    if precision is None or recall is None or precision + recall == 0:
        return precision, recall, None
    return precision, recall, 2 * precision * recall / (precision + recall)


def confusion(tp: int, fp: int, fn: int, tn: int) -> dict[str, float | int | None]:
    """The counts of a binary decision with its precision, recall and F1."""
    precision, recall, f1 = precision_recall_f1(tp, fp, fn)
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }
