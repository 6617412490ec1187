"""The exceptions agribot raises; the CLI and the bot translate them at the edges.

AgribotError
├── ConfigurationError
├── PairNotFound
├── PhrasingNotFound
├── PressRefused
├── QueueItemNotFound
├── DuplicateQuestion
├── AnswerWouldReplace      (an officer's answer would overwrite a curated one)
├── InvalidPair
├── ImportRejected          (carries every bad row with its line number)
├── ImportTooLarge
├── NothingToTrain
├── InvalidTrainingConfig
├── ModelNotFound
├── VocabularyNotTrimmable  (a tokenizer or weights layout the trimmer does not know)
├── ModelVersionNotFound
├── PromotionRefused
├── ModelSwitchRefused      (a desk activation or rollback its child process refused)
└── NothingToUndo           (an audit entry that is no bank change, or undone already)
"""

from __future__ import annotations

from dataclasses import dataclass


class AgribotError(Exception):
    """Base class of every error agribot raises on purpose."""


class ConfigurationError(AgribotError):
    """The settings cannot work together."""


class PairNotFound(AgribotError):
    """No QA pair has that id."""


class PhrasingNotFound(AgribotError):
    """No wording with that id is waiting for approval."""


class PressRefused(AgribotError):
    """A button press that does not match what was offered to that chat for that question:
    forged, another chat's, or already used."""


class QueueItemNotFound(AgribotError):
    """No unanswered question has that id."""


class DuplicateQuestion(AgribotError):
    """The bank already holds this question (after normalization)."""

    def __init__(self, question: str, existing_id: int) -> None:
        super().__init__(f"the bank already has this question as pair {existing_id}: {question}")
        self.existing_id = existing_id


class AnswerWouldReplace(AgribotError):
    """The bank already asks the queued question; replacing its answer needs a choice."""

    def __init__(self, pair_id: int, question: str, answer: str) -> None:
        super().__init__(f"the bank already answers this question as pair {pair_id}")
        self.pair_id = pair_id
        self.question = question
        self.answer = answer


class InvalidPair(AgribotError):
    """A QA pair cannot be saved as given (an empty question or answer)."""


@dataclass(frozen=True)
class RowError:
    """One bad row of an import file."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class ImportRejected(AgribotError):
    """The import file has bad rows, so nothing was imported."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        shown = "\n".join(str(error) for error in errors[:50])
        more = f"\n... and {len(errors) - 50} more" if len(errors) > 50 else ""
        super().__init__(f"nothing imported; {len(errors)} bad row(s):\n{shown}{more}")


class ImportTooLarge(AgribotError):
    """The file has more pairs than one upload may bring (AGRIBOT_MAX_UPLOAD_ROWS)."""

    def __init__(self, rows: int, limit: int) -> None:
        super().__init__(f"nothing imported: {rows} pairs, over the {limit} one upload may bring")
        self.rows = rows
        self.limit = limit


class NothingToTrain(AgribotError):
    """The bank gives no training rows (empty, or all of it held out)."""


class InvalidTrainingConfig(AgribotError):
    """A fine-tuning option cannot work (an unknown loss, too many layers to train)."""


class ModelNotFound(AgribotError):
    """The model directory is missing or incomplete."""


class VocabularyNotTrimmable(AgribotError):
    """The model's tokenizer or weights are of a kind the vocabulary trimmer cannot remap."""


class ModelVersionNotFound(AgribotError):
    """The registry has no model version of that name."""


class PromotionRefused(AgribotError):
    """The new model is not better than the active one."""


class ModelSwitchRefused(AgribotError):
    """`agribot model activate` or `rollback`, run for the desk, refused (its reason)."""


class NothingToUndo(AgribotError):
    """The audit entry is not a bank change that can be undone, or was undone already."""
