"""Nobody has claimed a waiting chat: nudge the staff, roll over to the backup queue, then
offer the patron an email answer.

T1 (`nudge_after`): a notice in the thread naming who is on duty. T2 (`rollover_after`): the
chat moves to the queue's `backup_queue` (another desk or a partner library, on either
backend) when that queue is staffed. T3 (`offer_email_after`): the patron is told and offered
an answer by email. Driven from the database by the worker's sweep (`escalate_due`), so a
restart loses no timer: the stage reached is stored on the conversation, and each step happens
once. Patrons start leaving after 30–90 seconds, hence the defaults.
"""

from __future__ import annotations

import logging

from router import abandonment, availability, duty, errors, transfer
from router.conversations import authenticate, opened_with_own_token
from router.journal import Desk, add_event, append_message, commit, enqueue
from router.model import Author, Conversation, EventType, OutboxKind, Status, StreamEvent
from router.outbox_payloads import Notice
from router.patron_email import address_for

log = logging.getLogger(__name__)

DEFAULTS = {"nudge_after": 60, "rollover_after": 120, "offer_email_after": 180, "nudge_mentions": 1}
TIMERS = ("nudge_after", "rollover_after", "offer_email_after")
NUDGED, ROLLED_OVER, OFFERED = 1, 2, 3
OFFER = "Sorry for the wait. You can keep waiting, or leave your email address and a librarian will answer by email."
OFFER_HERE = (  # no mail server: nothing is promised by email (router.journal.Desk.email_available)
    "Sorry for the wait. You can keep waiting, or come back to this chat later: "
    "a librarian will answer here, in this chat."
)


def settings_for(escalation: dict[str, int]) -> dict[str, int]:
    return {**DEFAULTS, **{k: int(v) for k, v in escalation.items() if k in DEFAULTS}}


def escalate_due(desk: Desk) -> int:
    """Take every due step once; returns how many steps were taken.

    Chats whose patron has gone are closed as abandoned first, so no nudge or offer follows for them."""
    closed = abandonment.close_abandoned(desk)
    with desk.uow(read_only=True) as uow:
        candidates = uow.conversations.waiting_before(desk.clock.now(), OFFERED)
    return closed + sum(_rollover(desk, candidate) or _step(desk, candidate.id) for candidate in candidates)


def _rollover(desk: Desk, candidate: Conversation) -> int:
    """T2: pass the chat to the backup queue, if there is one and somebody there can answer."""
    if candidate.escalation_stage >= ROLLED_OVER:
        return 0
    with desk.uow(read_only=True) as uow:
        queue = uow.queues.get(candidate.queue_slug)
    if queue is None or not queue.backup_queue:
        return 0
    waited = (desk.clock.now() - candidate.created_at).total_seconds()
    if waited < settings_for(queue.escalation)["rollover_after"]:
        return 0
    try:
        if not availability.queue_status(desk, queue.backup_queue)["staffed"]:
            return 0
        moved = transfer.transfer(desk, candidate.id, queue.backup_queue, None, escalation_stage=ROLLED_OVER)
    except errors.RefdeskError as exc:  # e.g. the backup queue was deleted: keep escalating here
        log.warning("rollover of %s to %s skipped: %s", candidate.id, queue.backup_queue, exc)
        return 0
    return 1 if moved else 0


def _step(desk: Desk, conversation_id: str) -> int:
    now = desk.clock.now()
    with desk.uow() as uow:
        conversation = uow.conversations.get(conversation_id, for_update=True)
        queue = uow.queues.get(conversation.queue_slug) if conversation else None
        if conversation is None or queue is None or conversation.status is not Status.WAITING or conversation.offline:
            return 0
        timers = settings_for(queue.escalation)
        waited = (now - conversation.created_at).total_seconds()
        steps = 0
        if conversation.escalation_stage < NUDGED and waited >= timers["nudge_after"]:
            # a late sweep may find the offer due too: staff are still nudged first, never skipped
            conversation.escalation_stage = NUDGED
            on_duty = duty.on_duty_staff(desk, queue.slug)  # a read-only unit of work: safe inside this one
            names = ", ".join(sorted(name for _, name in on_duty)) or "nobody"
            text = f"Waiting {int(waited)} s and unclaimed. On duty: {names}."
            # the "shout out": ping whoever is on the desk
            mention = tuple(staff_id for staff_id, _ in on_duty) if timers["nudge_mentions"] else ()
            enqueue(uow, conversation, OutboxKind.NOTICE, now, payload=Notice(text, mention=mention))
            steps += 1
        if conversation.escalation_stage < OFFERED and waited >= timers["offer_email_after"]:
            conversation.escalation_stage = OFFERED
            mail = desk.email_available and not conversation.patron_channel  # a DM patron is answered in the DM
            append_message(uow, conversation, Author.SYSTEM, OFFER if mail else OFFER_HERE, now)
            seq = conversation.next_seq()
            data = {"seq": seq, "status": "waiting", "claimed_by": None, "offer_email": mail}
            add_event(uow, conversation, StreamEvent(conversation.id, seq, EventType.STATUS, data, now))
            offered = "offered an answer by email" if mail else "told to come back to this chat for the answer"
            text = f"Still unclaimed after {int(waited // 60)} min: the patron was {offered}."
            enqueue(uow, conversation, OutboxKind.NOTICE, now, payload=Notice(text))
            steps += 1
        if not steps:
            return 0
        commit(desk, uow, conversation)
    return steps


def answer_by_email(desk: Desk, conversation_id: str, token: str, email: object) -> Conversation:
    """The patron stops waiting: the chat becomes an offline question, answered at the chat's one address
    (the one given at the start, or this one if there was none: router.patron_email)."""
    now = desk.clock.now()
    with desk.uow() as uow:
        conversation = authenticate(uow, conversation_id, token, for_update=True, desk=desk)
        if conversation.status is Status.CLOSED:
            raise errors.ConversationClosed("this conversation has ended")
        address_for(conversation, email, may_set=opened_with_own_token(conversation, token))
        conversation.offline = True
        uow.lines_moved.add(conversation.queue_slug)
        enqueue(uow, conversation, OutboxKind.UPDATE_ROOT, now)
        enqueue(uow, conversation, OutboxKind.NOTICE, now, payload=Notice("The patron asked for the answer by email."))
        commit(desk, uow, conversation)
    return conversation
