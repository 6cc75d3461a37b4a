"""Files librarians send in Matrix: how events are read and where the bot downloads them from."""

from __future__ import annotations

import pytest

from adapters.matrix.inbound import Action, MediaRef, staff_intent
from adapters.matrix.media import MediaFetcher, download_url
from router.staff_files import patron_note, staff_notice

BOT = "@refdesk:localhost"
ROOT = "$root"


def file_event(msgtype="m.file", **content):
    return {
        "type": "m.room.message",
        "sender": "@ann:localhost",
        "event_id": "$f1",
        "content": {"msgtype": msgtype, "m.relates_to": {"rel_type": "m.thread", "event_id": ROOT}, **content},
    }


@pytest.mark.parametrize("msgtype", ["m.image", "m.file", "m.video", "m.audio"])
def test_a_file_in_a_thread_is_a_reply_carrying_the_media(msgtype):
    event = file_event(msgtype, body="map.png", url="mxc://hs/abc", info={"mimetype": "image/png", "size": 12})
    intent = staff_intent(event, BOT)
    assert (intent.action, intent.thread_root, intent.body) == (Action.REPLY, ROOT, "")
    assert intent.media == MediaRef("mxc://hs/abc", "map.png", "image/png", 12)


def test_with_a_filename_the_body_is_a_caption():
    intent = staff_intent(file_event(body="Here is the guide", filename="guide.pdf", url="mxc://hs/x"), BOT)
    assert intent.body == "Here is the guide" and intent.media.name == "guide.pdf"
    assert intent.media.mimetype == "application/octet-stream" and intent.media.size is None


def test_an_encrypted_file_or_odd_info_still_names_the_file():
    file = {"url": "mxc://hs/enc", "key": {"k": "x"}, "iv": "y", "hashes": {"sha256": "z"}}
    intent = staff_intent(file_event(body="secret.pdf", file=file, info={"size": "big"}), BOT)
    assert intent.media == MediaRef("mxc://hs/enc", "secret.pdf", "application/octet-stream", None, encryption=file)


def test_a_file_outside_a_thread_is_ignored():
    event = file_event(body="x.png", url="mxc://hs/x")
    del event["content"]["m.relates_to"]
    assert staff_intent(event, BOT) is None


def test_media_is_downloaded_from_the_authenticated_endpoint_only_for_real_mxc_uris():
    assert (
        download_url("https://matrix.example.org/", "mxc://example.org/AbC_12-z")
        == "https://matrix.example.org/_matrix/client/v1/media/download/example.org/AbC_12-z"
    )
    for bad in ["mxc://example.org/../../admin", "https://evil.example/x", "mxc://example.org/a?b", "", "mxc://h/a/b"]:
        assert download_url("https://matrix.example.org", bad) is None


def test_too_large_or_undownloadable_files_are_not_fetched_and_say_why():
    fetcher = MediaFetcher("http://127.0.0.1:9", lambda: "token", max_bytes=10 * 1024 * 1024)
    files, unfetched = fetcher(
        [MediaRef("mxc://hs/a", "big.mp4", "video/mp4", 11 * 1024 * 1024), MediaRef("", "e", "", 1)]
    )
    assert files == []
    assert [u.name for u in unfetched] == ["big.mp4", "e"]
    assert unfetched[0].reason == "larger than the 10 MB limit for files sent to patrons"
    assert unfetched[1].reason == "it has no media address refdesk can download"


def test_the_notices_name_each_file():
    assert (
        patron_note(["a.pdf", "b.png"])
        == "[a file could not be forwarded: a.pdf][a file could not be forwarded: b.png]"
    )
    notice = staff_notice([("a.pdf", "too large"), ("b.png", "")])
    assert notice.startswith("Not sent to the patron") and "• a.pdf: too large\n• b.png" in notice
