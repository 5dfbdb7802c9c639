"""The one error hierarchy of pursuit.

Every error says what went wrong and where. Its *scope* tells the caller how far
the damage reaches: one item is skipped, one source is skipped this round, or the
command stops. The command line turns a `UserError` into its message and exit
code 2, without a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable

from pursuit.daemon.textsafety import one_line

#: The most of what a source said that an error keeps (a server's own text can be any size).
DETAIL_LIMIT = 1000


class PursuitError(Exception):
    """Base of every error pursuit raises on purpose."""

    exit_code = 1
    #: What mends it: "retry" (pursuit tries again by itself), or what only the user
    #: can change: "config", "password". `doctor` promises a retry for "retry" alone.
    mended_by = "retry"


class UserError(PursuitError):
    """Something the user can fix: bad config, bad argument, unknown name.

    Carries every problem found, so the user fixes them all in one go.
    """

    exit_code = 2

    def __init__(self, problems: str | Iterable[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class AmbiguousName(UserError):
    """A name the user gave matches more than one record.

    `candidates` are the matches as the message shows them, so a caller can offer
    them without parsing the message.
    """

    def __init__(self, name: str, candidates: Iterable[str], message: str) -> None:
        self.name = name
        self.candidates = tuple(candidates)
        super().__init__(message)


class ConfigError(UserError):
    """The configuration file (or a value in it) is wrong."""

    mended_by = "config"


class StoreError(PursuitError):
    """The state database cannot be used (newer schema, corrupt file)."""

    exit_code = 2


class DamagedDatabase(StoreError):
    """The state database file is damaged (SQLite finds it malformed, or not a database):
    nothing more is written to it; `fix` says how to get the data back."""

    def __init__(self, found: str, fix: str) -> None:
        self.found = found
        self.fix = fix
        super().__init__(f"{found}; {fix}")


class DiskFull(StoreError):
    """The disk holding the state database is full: nothing is lost, and the work goes
    on once there is room again, so it is a failure to retry (exit 1), not a fix to make."""

    exit_code = 1


class SourceError(PursuitError):
    """An outside system failed; skip this source this round, retry later."""

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        # What a server says about itself (a status line, a greeting, an IMAP NO) is outside
        # text: cleaned and bounded here, before any log, terminal or store sees it.
        self.detail = one_line(message[: DETAIL_LIMIT * 4])[:DETAIL_LIMIT]
        super().__init__(f"{source}: {self.detail}")


class AuthError(SourceError):
    """Credentials are missing, revoked or expired; the user must sign in again."""

    mended_by = "password"


class Unreachable(SourceError):
    """The server cannot be reached at all (refused, no route, no answer), or cannot be
    used at all (an IMAP server without UIDVALIDITY): every job that needs it this round
    would fail the same way, so one says it."""


class CursorExpired(SourceError):
    """A sync cursor is no longer valid (Gmail 404, Calendar 410, new UIDVALIDITY).

    Not a failure: the caller resyncs from scratch.
    """


class CalendarGone(SourceError):
    """pursuit's own calendar is no longer there (the user deleted it, or moved its
    file away): every live event of `calendar` (an outbox target) must be put back.
    The connector makes the calendar anew at the next change."""

    def __init__(self, source: str, message: str, *, calendar: str | None = None) -> None:
        self.calendar = calendar or source
        super().__init__(source, message)


class ItemError(PursuitError):
    """One item (a message, an entry) could not be used; skip it, keep the rest."""


class Stopped(Exception):
    """The service was asked to stop in the middle of a job: nothing after the last
    stored batch is lost, and the job's cursor is not saved, so it goes on at the
    next start. Not a failure, and not a PursuitError: nothing catches it by accident."""
