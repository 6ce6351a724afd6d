"""Why intake refuses a message: typed exceptions with a stable, machine-readable ``reason``.

The faces turn them into their own error forms (the REST API into RFC 9457 problem+json, the XTA server
into faults); the reason strings are part of that contract and never change meaning. A refusal always
leaves no message row and no payload in the store.
"""

from __future__ import annotations

import uuid

from gateway.xoev.report import Report


class Rejected(Exception):
    """Base class: ``reason`` is a stable token, the message says what to do about it."""

    reason: str = "rejected"

    def __init__(self, detail: str, *, reason: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if reason is not None:
            self.reason = reason


class Invalid(Rejected):
    """The message failed validation (or its signature check); ``report`` lists every finding."""

    reason = "invalid"

    def __init__(self, report: Report, detail: str | None = None) -> None:
        errors = report.errors
        first = f"{errors[0].rule}: {errors[0].message}" if errors else "see the report"
        super().__init__(detail or f"the message is not valid ({len(errors)} error(s); first: {first})")
        self.report = report


class Conflict(Rejected):
    """Another message with the same identity (sender, ProzessID, Nachrichtentyp) but other content exists."""

    reason = "conflict"

    def __init__(self, existing_id: uuid.UUID, sender: str, process_id: str, message_type: str) -> None:
        super().__init__(
            f"{sender} already submitted a different {message_type} for ProzessID {process_id} "
            f"(message {existing_id}); a message cannot be replaced, start a new process instead"
        )
        self.existing_id = existing_id
        self.sender = sender
        self.process_id = process_id
        self.message_type = message_type


class ForgedSender(Rejected):
    """The Absender of the message is not the authenticated participant (or names no Behördenkennung)."""

    reason = "forged_sender"

    def __init__(self, authenticated: str, claimed: str | None) -> None:
        if claimed is None:
            super().__init__(
                f"the message's Absender carries no Behoerdenkennung, so it cannot be shown to come from "
                f"{authenticated}; add the Behoerdenkennung (prefix and Kennung) of {authenticated}",
                reason="sender_not_identified",
            )
        else:
            super().__init__(f"the message names {claimed} as Absender, but it was submitted by {authenticated}")
        self.authenticated = authenticated
        self.claimed = claimed


class UnknownRecipient(Rejected):
    """The Empfaenger is missing or not in the participant directory, so the message cannot be routed."""

    reason = "unknown_recipient"

    def __init__(self, recipient: str | None, *, named: str | None = None) -> None:
        if recipient is None:
            super().__init__(
                "the message's Empfaenger carries no Behoerdenkennung, and neither the channel nor the process "
                "names the recipient; add the Behoerdenkennung of the Empfaenger (prefix and Kennung), or name "
                "the recipient when submitting (REST: ?recipient=, XTA: the Reader)",
                reason="recipient_not_identified",
            )
        elif named is not None:
            super().__init__(
                f"the message names {recipient} as Empfaenger, but it was addressed to {named}",
                reason="recipient_mismatch",
            )
        else:
            super().__init__(f"the Empfaenger {recipient} is not in the participant directory")
        self.recipient = recipient
        self.named = named


class VersionNotAccepted(Rejected):
    """The recipient does not accept the message's xdomea version (its directory entry's accepted_versions)."""

    reason = "version_not_accepted"

    def __init__(self, recipient: str, version: str, accepted: list[str]) -> None:
        super().__init__(
            f"{recipient} accepts xdomea {', '.join(accepted) or 'no version'}, not {version}; send the message "
            f"in a version it accepts"
        )
        self.recipient = recipient
        self.version = version
        self.accepted = list(accepted)


class TooLarge(Rejected):
    """The upload exceeded the size limit; reading stopped there."""

    reason = "too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"the message exceeds the limit of {limit} bytes (setting pipeline.max_submit_bytes)")
        self.limit = limit
