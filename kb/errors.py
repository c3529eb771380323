"""Errors for people: each names the thing and says how to fix it."""


class KbError(Exception):
    """Base of kb's errors; the CLI and servers show its message as one line, never a traceback."""


class BadDocument(KbError):
    """A corpus file that cannot be read; the build names it and skips it (or fails with --strict)."""


class CorpusError(KbError):
    """The corpus as a whole cannot be used (missing folder, or bad files under --strict)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        self.problems = problems or []
        super().__init__(message + "".join(f"\n  - {p}" for p in self.problems))


class IndexProblem(KbError):
    """An index folder that is missing, stale or damaged; KnowledgeBase.open() rebuilds it."""


class StaleIndex(IndexProblem):
    """An index built from another corpus, model or settings than the current ones; it is rebuilt."""


class QuestionError(KbError, ValueError):
    """A question kb cannot take (empty, too long); the message is in the asker's language."""


class QuestionTooLong(QuestionError):
    """A question over Config.max_question_chars (the REST API answers it with 413, not 422)."""


class MissingDependency(KbError, ImportError):
    """An optional package is needed for what was asked."""

    def __init__(self, package: str, extra: str, purpose: str):
        super().__init__(f"{purpose} needs the '{package}' package: pip install {package} (or pip install '.[{extra}]' in kb's folder)")
