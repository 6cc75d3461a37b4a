"""`refdesk purge`, `refdesk retention show|set` and `refdesk faq export`: retention and the FAQ from the shell."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from router import faq, retention
from router.errors import RefdeskError


def _container():  # -> Container (imported lazily, as adapters.cli does)
    from adapters.cli import _container as migrated_container

    return migrated_container()


def cmd_purge(args: argparse.Namespace) -> None:
    """Once, now; Slack and Matrix copies are removed by the worker's outbox (it holds the connections)."""
    container = _container()
    report = retention.purge(container.desk, None, container.settings.card_number_pattern)
    waiting = report.waiting_for_platform
    print(f"anonymised {report.anonymised}, deleted {report.deleted}", end="")
    print(f", {waiting} more once the worker has removed their Slack/Matrix copies" if waiting else "")
    if report.failed:
        sys.exit(f"refdesk: could not finish {len(report.failed)}: {', '.join(report.failed)}")


def cmd_retention_show(args: argparse.Namespace) -> None:
    policy = retention.get_policy(_container().desk)
    for label, days in (("anonymise", policy.anonymise_after_days), ("delete", policy.delete_after_days)):
        print(f"{label} after {days} days" if days else f"{label}: never")
    print(f"Slack/Matrix copies: {'deleted with the chat' if policy.purge_platform_copies else 'kept'}")


def cmd_retention_set(args: argparse.Namespace) -> None:
    try:
        policy = retention.set_policy(
            _container().desk, args.anonymise_after, args.delete_after, not args.keep_platform_copies
        )
    except RefdeskError as exc:
        sys.exit(f"refdesk: {exc}")
    copies = "deleted with them" if policy.purge_platform_copies else "kept"
    print(f"retention set. {policy.describe() or 'Chats are kept.'} Slack/Matrix copies are {copies}.")


def cmd_faq_export(args: argparse.Namespace) -> None:
    container = _container()
    try:
        text = faq.export(
            container.desk,
            args.format,
            start=args.start,
            end=args.end,
            queue_slug=args.queue,
            card_pattern=container.settings.card_number_pattern,
        )
    except RefdeskError as exc:
        sys.exit(f"refdesk: {exc}")
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            out.write(text)
    else:
        sys.stdout.write(text)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-11-02") from None


def register(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("purge", help="apply the retention policy once (anonymise, delete)").set_defaults(func=cmd_purge)
    keep = sub.add_parser("retention", help="how long chats are kept").add_subparsers(
        dest="retention_command", required=True
    )
    keep.add_parser("show", help="the current policy").set_defaults(func=cmd_retention_show)
    change = keep.add_parser("set", help="set the policy (an option left out: never)")
    change.add_argument("--anonymise-after", type=int, metavar="DAYS", help="remove personal data from closed chats")
    change.add_argument("--delete-after", type=int, metavar="DAYS", help="delete closed chats")
    change.add_argument(
        "--keep-platform-copies", action="store_true", help="leave the Slack/Matrix threads when deleting"
    )
    change.set_defaults(func=cmd_retention_set)
    answers = sub.add_parser("faq", help="reusable answers").add_subparsers(dest="faq_command", required=True)
    export = answers.add_parser("export", help="FAQ candidates as scrubbed question/answer pairs")
    export.add_argument("--format", choices=faq.FORMATS, default="md")
    export.add_argument("--from", dest="start", type=_day, metavar="YYYY-MM-DD")
    export.add_argument("--to", dest="end", type=_day, metavar="YYYY-MM-DD")
    export.add_argument("--queue", help="one queue's chats only")
    export.add_argument("--output", "-o", help="write to this file instead of standard output")
    export.set_defaults(func=cmd_faq_export)
