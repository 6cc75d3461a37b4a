"""Widget budgets and catalogues: measured on what the server actually sends."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from router.model import Backend, Queue
from tests.conftest import make_container
from web import create_app, widget

I18N = Path(__file__).resolve().parents[2] / "web" / "static" / "i18n"
LOADER_BUDGET, UI_BUDGET = 10 * 1024, 60 * 1024


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    container = make_container(f"sqlite:///{tmp_path_factory.mktemp('widget') / 'w.db'}")
    with container.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, "!r:l", ["https://library.example"]))
        uow.commit()
    yield create_app(container).test_client()
    container.close()


def gzipped(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9))


def test_loader_and_chat_ui_stay_within_their_budgets(client):
    loader = client.get("/widget.js")
    assert loader.status_code == 200 and loader.mimetype == "text/javascript"
    frame = client.get("/widget/frame?queue=general&lang=fr")
    paths = ("/static/widget/app.js", "/static/chat-follow.js", "/static/chat-files.js", "/static/chat-screen.js")
    paths += ("/static/widget/widget.css",)
    assets = [client.get(path).data for path in paths]
    ui = gzipped(frame.data) + sum(gzipped(asset) for asset in assets)
    assert gzipped(loader.data) <= LOADER_BUDGET
    assert ui <= UI_BUDGET


def test_every_language_has_every_string():
    catalogues = {path.stem: json.loads(path.read_text()) for path in I18N.glob("*.json")}
    assert {"en", "es", "fr"} <= catalogues.keys()
    for lang, strings in catalogues.items():
        assert strings.keys() == catalogues["en"].keys(), lang
        assert all(value.strip() for value in strings.values()), lang


def test_unknown_language_falls_back_to_english_and_unknown_queue_is_404(client):
    assert 'lang="en"' in client.get("/widget/frame?queue=general&lang=xx").get_data(as_text=True)
    assert client.get("/widget/frame?queue=nowhere").status_code == 404


def test_the_library_can_word_its_own_privacy_note(tmp_path):
    container = make_container(f"sqlite:///{tmp_path / 'p.db'}", privacy_note="Chats are deleted after 30 days.")
    with container.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, "!r:l"))
        uow.commit()
    page = create_app(container).test_client().get("/widget/frame?queue=general&lang=es").get_data(as_text=True)
    assert "Chats are deleted after 30 days." in page and "Guardamos" not in page
    container.close()


def test_tokens_never_reach_the_access_log():
    import logging

    from web import RedactTokens

    record = logging.LogRecord(
        "werkzeug",
        logging.INFO,
        __file__,
        1,
        '%s - "%s" %s',
        ("127.0.0.1", "GET /api/v1/conversations/x/events?token=s3cret&after=2 HTTP/1.1", "200"),
        None,
    )
    RedactTokens().filter(record)
    line = record.getMessage()
    assert "s3cret" not in line and "token=REDACTED&after=2" in line


def test_client_addresses_never_reach_the_development_servers_access_log():
    import logging

    from werkzeug.serving import WSGIRequestHandler

    from web import RedactTokens

    class Handler(WSGIRequestHandler):  # werkzeug's own access-line formatting, without a socket
        def __init__(self):
            self.client_address = ("203.0.113.7", 51234)

        def log_date_time_string(self):
            return "30/Nov/2026 05:40:00"

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    logger = logging.getLogger("werkzeug")
    keep, redact, level = Keep(), RedactTokens(), logger.level
    logger.addHandler(keep), logger.addFilter(redact), logger.setLevel(logging.INFO)
    try:
        Handler().log("info", '"%s" %s %s', "GET /api/v1/queues/general/status HTTP/1.1", "200", "-")
    finally:
        logger.removeHandler(keep), logger.removeFilter(redact), logger.setLevel(level)
    line = records[0].getMessage()
    assert "203.0.113.7" not in line and line.startswith("- - - [30/Nov/2026") and "/queues/general/status" in line


@pytest.mark.parametrize("frames", [2, 0])
def test_the_privacy_note_says_what_show_my_screen_shares_wherever_it_is_offered(tmp_path, frames):
    container = make_container(f"sqlite:///{tmp_path / 's.db'}", screen_frames_per_chat=frames)
    with container.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, "!r:l"))
        uow.commit()
    client = create_app(container).test_client()
    widget = client.get("/widget/frame?queue=general&lang=fr").get_data(as_text=True)
    plain = client.get("/chat/general").get_data(as_text=True)
    said = ("Montrer mon écran envoie une image" in widget, 'class="hint">Show my screen sends a picture' in plain)
    assert said == ((True, True) if frames else (False, False))  # not offered (0): not promised either
    container.close()


def strings_of(page: str) -> dict[str, str]:
    return json.loads(page.split('id="strings">')[1].split("</script>")[0])


def test_the_upload_limit_the_patron_reads_is_the_one_the_server_keeps(tmp_path):
    """REFDESK_MAX_UPLOAD_BYTES is an operator's setting: the widget, the plain page and the screen pictures'
    compression follow it (the strings said "5 MB" whatever it was)."""
    container = make_container(f"sqlite:///{tmp_path / 'u.db'}", max_upload_bytes=1536 * 1024)
    with container.desk.uow() as uow:
        uow.queues.add(Queue("general", "General", Backend.MATRIX, "!r:l"))
        uow.commit()
    client = create_app(container).test_client()
    english = client.get("/widget/frame?queue=general&lang=en").get_data(as_text=True)
    assert "up to 1.5\u00a0MB" in english and "5 MB" not in english and 'data-max-upload="1572864"' in english
    assert "(1.5\u00a0MB at most)" in strings_of(english)["error.file_too_large"]  # the refusal names the same limit
    french = client.get("/widget/frame?queue=general&lang=fr").get_data(as_text=True)
    assert "1,5\u00a0Mo au plus" in french and "{size}" not in french
    page = client.get("/chat/general").get_data(as_text=True)
    assert 'data-max-upload="1572864"' in page and "(1.5\u00a0MB at most)" in strings_of(page)["error.file_too_large"]
    assert [widget.size_words(n, "en") for n in (5 * 1024**2, 512 * 1024, 100, 1024**2 + 1)] == [
        "5\u00a0MB",
        "512\u00a0KB",
        "1\u00a0KB",
        "1\u00a0MB",
    ]
    container.close()
