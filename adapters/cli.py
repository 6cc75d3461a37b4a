"""The `refdesk` command: demo, serve, worker, db upgrade, queue add/list, admin accounts."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from datetime import date
from importlib.metadata import PackageNotFoundError, version

from pydantic import ValidationError

from adapters import logging_setup
from adapters.bootstrap import Container, bootstrap
from adapters.cli_database import require_migrated, use_demo_database
from adapters.cli_retention import register as register_retention
from adapters.settings import Settings
from adapters.storage.migrate import upgrade
from router import availability, canned, queue_settings, queue_setup
from router.errors import InvalidInput, RefdeskError
from router.model import Backend, Queue


def _settings() -> Settings:
    demo = use_demo_database()  # no database configured, but `make demo` ran here: manage the demo's desk
    if demo:
        print(f"refdesk: using the demo's desk ({demo})", file=sys.stderr)
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        sys.exit(f"refdesk: configuration error: {problems}")
    logging_setup.configure_from(settings)  # every command reads its settings here: REFDESK_LOG_LEVEL, _FORMAT
    return settings


def _container() -> Container:
    """The desk of a migrated database; otherwise a one-line exit that says `refdesk db upgrade`."""
    settings = _settings()
    require_migrated(settings)
    return bootstrap(settings)


def wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def serve_http(container: Container, host: str, port: int) -> None:
    """The threaded development server; production runs gunicorn (see Procfile)."""
    from werkzeug.serving import make_server

    from web import create_app

    server = make_server(host, port, create_app(container), threaded=True)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    logging.getLogger(__name__).info("serving on http://%s:%d", host, port)


def cmd_serve(args: argparse.Namespace) -> None:
    settings = _settings()
    if not args.migrate:
        require_migrated(settings)
    container = bootstrap(settings, migrate=args.migrate)
    serve_http(container, args.host, args.port)
    worker = None
    if args.with_worker:
        from adapters.worker import Worker

        worker = Worker(container)
        worker.start()
    wait_for_signal()
    if worker:
        worker.stop()


def cmd_worker(args: argparse.Namespace) -> None:
    from adapters.worker import Worker

    worker = Worker(_container())
    worker.start()
    wait_for_signal()
    worker.stop()


def cmd_db_upgrade(args: argparse.Namespace) -> None:
    upgrade(_settings().database_url)
    print("database is up to date")


def cmd_db_copy(args: argparse.Namespace) -> None:
    from adapters.storage.copy import copy_database

    try:
        copy_database(
            _settings().database_url,
            args.to,
            force=args.force,
            progress=lambda table, rows: print(f"{table}: {rows} rows"),
        )
    except RefdeskError as exc:
        sys.exit(f"refdesk: {exc}")
    print(f"copied; point REFDESK_DATABASE_URL at {args.to.split('@')[-1]} and restart web and worker")


def cmd_check(args: argparse.Namespace) -> None:
    from adapters.check import report, run_checks

    findings = run_checks(_settings(), timeout=args.timeout)
    for line in report(findings):
        print(line)
    sys.exit(0 if all(finding.ok for finding in findings) else 1)


def cmd_queue_add(args: argparse.Namespace) -> None:
    """Create a queue, or update one: only what is given changes (`--replace`: exactly what is given)."""
    container = _container()
    try:
        origins = queue_setup.check_origins(args.origin or [])
        with container.desk.uow() as uow:
            queue = uow.queues.get(queue_setup.check_slug(args.slug))
            if queue is None or args.replace:
                if not args.room:
                    raise InvalidInput("a new queue needs --room (its Matrix room id or Slack channel id)")
                backend = queue_setup.check_backend(args.backend or "matrix")
                name = args.name or (queue.name if queue else args.slug)
                fresh = Queue(args.slug, name, backend, queue_setup.check_room(backend, args.room), origins)
                queue = _replace_wiring(queue, fresh) if queue else fresh
            else:  # keeps hours, away messages, timers, and the backend and sites not named here
                queue.backend = queue_setup.check_backend(args.backend) if args.backend else queue.backend
                queue.room = queue_setup.check_room(queue.backend, args.room or queue.room)
                queue.name = args.name or queue.name
                queue.allowed_origins = [
                    *queue.allowed_origins,
                    *(o for o in origins if o not in queue.allowed_origins),
                ]
            uow.queues.add(queue)
            uow.commit()
    except RefdeskError as exc:
        sys.exit(f"refdesk: {exc}")
    sites = " ".join(queue.allowed_origins) or "none"
    print(f"queue {queue.slug} -> {queue.backend.value} {queue.room} (sites allowed to embed the chat: {sites})")


def _replace_wiring(queue: Queue, fresh: Queue) -> Queue:
    """`--replace`: name, backend, room and allowed sites become what was given; hours and the rest stay."""
    queue.name, queue.backend, queue.room, queue.allowed_origins = (
        fresh.name,
        fresh.backend,
        fresh.room,
        fresh.allowed_origins,
    )
    return queue


def cmd_queue_list(args: argparse.Namespace) -> None:
    with _container().desk.uow() as uow:
        for queue in uow.queues.list():
            print(f"{queue.slug}\t{queue.backend}\t{queue.room}\t{queue.name}\t{' '.join(queue.allowed_origins)}")


def _desk_policy(action) -> None:
    """Run an availability use case, turning its domain errors into a readable exit."""
    try:
        action(_container().desk)
    except RefdeskError as exc:
        sys.exit(f"refdesk: {exc}")


def cmd_queue_hours(args: argparse.Namespace) -> None:
    _desk_policy(lambda desk: availability.set_hours(desk, args.slug, args.tz, args.week or []))
    print(f"hours of {args.slug}: {', '.join(args.week or []) or 'open around the clock'} ({args.tz})")


def cmd_queue_closure(args: argparse.Namespace) -> None:
    def run(desk) -> None:
        try:
            first, last = date.fromisoformat(args.first), date.fromisoformat(args.last or args.first)
        except ValueError as exc:
            raise InvalidInput(f"dates must be YYYY-MM-DD: {exc}") from None
        availability.add_closure(desk, args.slug, first, last, args.reason or "", args.holiday)

    _desk_policy(run)
    print(f"{args.slug} closed {args.first}{' to ' + args.last if args.last else ''}")


def cmd_queue_closure_remove(args: argparse.Namespace) -> None:
    def run(desk) -> None:
        try:
            first, last = date.fromisoformat(args.first), date.fromisoformat(args.last or args.first)
        except ValueError as exc:
            raise InvalidInput(f"dates must be YYYY-MM-DD: {exc}") from None
        availability.remove_closure(desk, args.slug, first, last)

    _desk_policy(run)
    print(f"closure of {args.slug} from {args.first} removed")


def cmd_queue_away_remove(args: argparse.Namespace) -> None:
    _desk_policy(lambda desk: availability.remove_away(desk, args.slug, args.kind, args.lang))
    print(f"away message ({args.kind}, {args.lang}) removed from {args.slug}")


def cmd_queue_import_closures(args: argparse.Namespace) -> None:
    from adapters.ical import closures_from_ical, read_calendar

    def run(desk) -> None:
        with desk.uow() as uow:
            queue = uow.queues.get(args.slug)
        timezone = (queue.hours or {}).get("timezone", "UTC") if queue else "UTC"
        try:
            data = read_calendar(args.source)
        except OSError as exc:
            raise InvalidInput(f"cannot read {args.source}: {exc}") from None
        closures = closures_from_ical(data, timezone, holiday=not args.not_holidays)
        availability.add_closures(desk, args.slug, closures)
        print(f"{len(closures)} closures read from {args.source}")

    _desk_policy(run)


def cmd_queue_away(args: argparse.Namespace) -> None:
    _desk_policy(lambda desk: availability.set_away(desk, args.slug, args.kind, args.text, args.lang))
    print(f"away message ({args.kind}, {args.lang}) set for {args.slug}")


def cmd_queue_escalation(args: argparse.Namespace) -> None:
    timers = {
        name: value
        for name, value in (
            ("nudge_after", args.nudge_after),
            ("rollover_after", args.rollover_after),
            ("offer_email_after", args.offer_email_after),
        )
        if value is not None
    }
    _desk_policy(lambda desk: queue_settings.set_escalation(desk, args.slug, timers))
    if args.backup is not None:
        _desk_policy(lambda desk: queue_settings.set_backup(desk, args.slug, args.backup or None))
    print(f"escalation of {args.slug} updated")


def cmd_queue_staff_name(args: argparse.Namespace) -> None:
    _desk_policy(lambda desk: queue_settings.set_staff_name(desk, args.slug, args.policy))
    print(f"patrons of {args.slug} see librarians as: {args.policy}")


def cmd_canned_add(args: argparse.Namespace) -> None:
    _desk_policy(lambda desk: canned.save(desk, args.name, args.text, args.lang))
    print(f"canned response {args.name} ({args.lang}) saved")


def cmd_canned_list(args: argparse.Namespace) -> None:
    for response in canned.listing(_container().desk):
        for language, text in sorted(response.texts.items()):
            print(f"{response.name}\t{language}\t{text}")


def cmd_canned_remove(args: argparse.Namespace) -> None:
    _desk_policy(lambda desk: canned.remove(desk, args.name))
    print(f"canned response {args.name} removed")


def _read_password(args: argparse.Namespace) -> str:
    """From standard input (scripts) or a prompt typed twice (people); never from the command line."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    password = getpass.getpass(f"Password for {args.username}: ")
    if getpass.getpass("Same password again: ") != password:
        sys.exit("refdesk: the two passwords differ; nothing was changed")
    return password


def cmd_admin_create(args: argparse.Namespace) -> None:
    from werkzeug.security import generate_password_hash

    from router import admins

    password = _read_password(args)
    _desk_policy(
        lambda desk: admins.create(desk, args.username, password, args.role, generate_password_hash, replace=args.reset)
    )
    print(f"admin account {args.username.strip().lower()} ({args.role}) {'reset' if args.reset else 'created'}")


def cmd_admin_list(args: argparse.Namespace) -> None:
    from router import admins

    for user in admins.listing(_container().desk):
        print(f"{user.username}\t{user.role}\t{user.created_at:%Y-%m-%d %H:%M}")


def cmd_admin_delete(args: argparse.Namespace) -> None:
    from router import admins

    _desk_policy(lambda desk: admins.delete(desk, args.username))
    print(f"admin account {args.username} deleted")


def cmd_demo(args: argparse.Namespace) -> None:
    from adapters.demo import run_demo

    run_demo(args.data_dir, args.port, args.synapse_port)


def installed_version() -> str:
    """The version pip installed (package metadata), so operators and bug reports name the code that runs."""
    try:
        return version("refdesk")
    except PackageNotFoundError:
        return "unknown (not installed: run from a source tree)"


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="refdesk", description="Library chat reference in Slack and Matrix.")
    main.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    sub = main.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run a local Synapse, the web app and the worker on SQLite")
    demo.add_argument("--data-dir", default=".demo")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--synapse-port", type=int, default=8008)
    demo.set_defaults(func=cmd_demo)

    serve = sub.add_parser("serve", help="run the web app (development server)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--with-worker", action="store_true", help="also deliver the outbox and sync Matrix")
    serve.add_argument("--migrate", action="store_true", help="upgrade the database first")
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("worker", help="deliver the outbox and sync Matrix").set_defaults(func=cmd_worker)

    check = sub.add_parser(
        "check", help="check the settings, database, Slack, Matrix and mail server (exit 1: a problem)"
    )
    check.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for each server")
    check.set_defaults(func=cmd_check)

    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)
    copy = db.add_parser("copy", help="copy every table into another (empty) database, e.g. PostgreSQL")
    copy.add_argument("--to", required=True, metavar="URL", help="postgresql://user:password@host/database")
    copy.add_argument("--force", action="store_true", help="empty a target that already holds data first")
    copy.set_defaults(func=cmd_db_copy)

    queue = sub.add_parser("queue", help="map queues to staff rooms").add_subparsers(
        dest="queue_command", required=True
    )
    add = queue.add_parser("add", help="create a queue, or update one (only what you give changes)")
    add.add_argument("slug")
    add.add_argument("--name")
    add.add_argument("--backend", choices=[b.value for b in Backend], help="for a new queue: matrix (default)")
    add.add_argument("--room", help="Matrix room id (!abc:server) or Slack channel id (needed for a new queue)")
    add.add_argument(
        "--origin", action="append", help="add a site allowed to embed the widget, e.g. https://library.example"
    )
    add.add_argument(
        "--replace", action="store_true", help="set name, backend, room and sites to exactly what is given"
    )
    add.set_defaults(func=cmd_queue_add)
    queue.add_parser("list", help="list queues").set_defaults(func=cmd_queue_list)
    hours = queue.add_parser("hours", help="set weekly hours (replaces them; none: open around the clock)")
    hours.add_argument("slug")
    hours.add_argument("--tz", required=True, help="the library's time zone, e.g. Europe/Paris")
    hours.add_argument(
        "--week", action="append", help="e.g. 'mon-fri 09:00-17:00' (repeat; 'fri 20:00-02:00' crosses midnight)"
    )
    hours.set_defaults(func=cmd_queue_hours)
    closure = queue.add_parser("closure", help="close whole days (holidays, inventory)")
    closure.add_argument("slug")
    closure.add_argument("first", help="YYYY-MM-DD")
    closure.add_argument("last", nargs="?", help="YYYY-MM-DD (inclusive; default: the first day)")
    closure.add_argument("--reason")
    closure.add_argument("--holiday", action="store_true", help="use the holiday away message")
    closure.set_defaults(func=cmd_queue_closure)
    unclose = queue.add_parser("closure-remove", help="take back a closure (give its exact first and last day)")
    unclose.add_argument("slug")
    unclose.add_argument("first", help="YYYY-MM-DD")
    unclose.add_argument("last", nargs="?", help="YYYY-MM-DD (default: the first day)")
    unclose.set_defaults(func=cmd_queue_closure_remove)
    ical = queue.add_parser("import-closures", help="add closures from an iCal file or URL (re-import is safe)")
    ical.add_argument("slug")
    ical.add_argument("source", help="a .ics file or an https:// URL")
    ical.add_argument("--not-holidays", action="store_true", help="use the 'closed' away message, not 'holiday'")
    ical.set_defaults(func=cmd_queue_import_closures)
    away = queue.add_parser("away", help="set an away message; {next_opening} and {hours_today} are filled in")
    away.add_argument("slug")
    away.add_argument("kind", choices=list(availability.AWAY_KINDS))
    away.add_argument("text")
    away.add_argument("--lang", default="en")
    away.set_defaults(func=cmd_queue_away)
    unaway = queue.add_parser("away-remove", help="remove one language variant of an away message")
    unaway.add_argument("slug")
    unaway.add_argument("kind", choices=list(availability.AWAY_KINDS))
    unaway.add_argument("--lang", default="en")
    unaway.set_defaults(func=cmd_queue_away_remove)
    timers = queue.add_parser("escalation", help="unclaimed chats: nudge (T1), roll over (T2), offer email (T3)")
    timers.add_argument("slug")
    timers.add_argument("--nudge-after", type=int, metavar="SECONDS", help="nudge staff in the thread (default 60)")
    timers.add_argument("--rollover-after", type=int, metavar="SECONDS", help="move to the backup (default 120)")
    timers.add_argument("--offer-email-after", type=int, metavar="SECONDS", help="offer email (default 180)")
    timers.add_argument("--backup", help="the queue to roll over to (another desk or a partner library); '' for none")
    timers.set_defaults(func=cmd_queue_escalation)
    naming = queue.add_parser("staff-name", help="how patrons see librarians: full, first, or role:LABEL")
    naming.add_argument("slug")
    naming.add_argument("policy", help="full | first | role:Librarian")
    naming.set_defaults(func=cmd_queue_staff_name)

    answers = sub.add_parser("canned", help="canned responses staff send with !canned NAME").add_subparsers(
        dest="canned_command", required=True
    )
    add_canned = answers.add_parser("add", help="create a response or a language variant of it")
    add_canned.add_argument("name")
    add_canned.add_argument("text", help="may use {patron_name}, {hours_today} and {queue}")
    add_canned.add_argument("--lang", default="en")
    add_canned.set_defaults(func=cmd_canned_add)
    answers.add_parser("list", help="list canned responses").set_defaults(func=cmd_canned_list)
    remove_canned = answers.add_parser("remove", help="delete a canned response")
    remove_canned.add_argument("name")
    remove_canned.set_defaults(func=cmd_canned_remove)

    accounts = sub.add_parser("admin", help="web admin accounts (/admin)").add_subparsers(
        dest="admin_command", required=True
    )
    create = accounts.add_parser("create", help="add an account; the password is prompted for")
    create.add_argument("username")
    create.add_argument(
        "--role",
        choices=["admin", "viewer", "editor"],
        required=True,
        help="admin: change settings; viewer: read; editor: manage the FAQ only",
    )
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    create.add_argument("--reset", action="store_true", help="replace an existing account's password and role")
    create.set_defaults(func=cmd_admin_create)
    accounts.add_parser("list", help="list accounts").set_defaults(func=cmd_admin_list)
    delete = accounts.add_parser("delete", help="remove an account")
    delete.add_argument("username")
    delete.set_defaults(func=cmd_admin_delete)
    register_retention(sub)
    return main


def main(argv: list[str] | None = None) -> None:
    logging_setup.configure()  # until the settings are read (`_settings`)
    args = parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
