"""Named domain errors; the web layer maps each one to an HTTP status."""


class RefdeskError(Exception):
    """Base for errors a caller can act on; `code` is stable for API clients."""

    code = "error"


class UnknownQueue(RefdeskError):
    code = "unknown_queue"


class ConversationNotFound(RefdeskError):
    """Also raised for a wrong token, so a guess learns nothing about existence."""

    code = "not_found"


class EmptyMessage(RefdeskError):
    code = "empty_body"


class MessageTooLong(RefdeskError):
    code = "body_too_long"


class ConversationClosed(RefdeskError):
    code = "conversation_closed"


class DeskBusy(RefdeskError):
    """The queue already has its cap of waiting chats; the patron can still leave a question."""

    code = "desk_busy"


class InvalidInput(RefdeskError):
    code = "invalid_input"


class EmailLocked(RefdeskError):
    """Another address than the one the chat's emails go to (router.patron_email)."""

    code = "email_locked"


class TranscriptAlreadySent(RefdeskError):
    code = "transcript_already_sent"


class ResumeLinkExpired(RefdeskError):
    """A follow-up email's link used too long after the chat's last activity (router.followup)."""

    code = "link_expired"


class EmailUnavailable(RefdeskError):
    """No mail server is configured: refdesk refuses what it could not deliver instead of promising it."""

    code = "email_unavailable"


class FileTooLarge(RefdeskError):
    code = "file_too_large"


class UnsupportedFile(RefdeskError):
    code = "unsupported_file"


class ScreenLimitReached(RefdeskError):
    """The chat already holds as many screen pictures as the desk allows (REFDESK_SCREEN_FRAMES_PER_CHAT)."""

    code = "screen_limit"


class DeliveryError(Exception):
    """A staff-side send failed; `retry_after` (seconds) is the platform's own hint.

    `permanent` marks failures a retry cannot fix by itself (wrong room, revoked
    token): the item is kept and retried slowly so nothing is lost once an
    operator fixes the configuration.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent
