"""Staff formatting: Slack mrkdwn to HTML, the nh3 allowlist, Matrix formatted_body, and the message view."""

import pytest

from adapters.matrix.inbound import Action, staff_intent
from adapters.slack.listeners import reply_html
from adapters.slack.mrkdwn import mrkdwn_to_html
from adapters.staff_html import sanitise, staff_html
from router import conversations as uc
from router import retention, staff
from router.journal import Inbound, message_view
from router.model import Backend, EventType, Queue
from tests.unit.fakes import make_desk

GENERAL = Queue("general", "General", Backend.MATRIX, "!room:localhost")
REL = 'target="_blank" rel="noopener noreferrer nofollow"'
BOT = "@refdesk:localhost"


# -- Slack mrkdwn ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mrkdwn", "expected"),
    [
        ("*bold* _italic_ ~gone~", "<strong>bold</strong> <em>italic</em> <del>gone</del>"),
        ("use `a*b*c` here", "use <code>a*b*c</code> here"),
        ("```\nline 1\n*not bold*```", "<pre>line 1\n*not bold*</pre>"),
        ("<https://x.example/a_b?q=1&amp;r=2|the label>", '<a href="https://x.example/a_b?q=1&amp;r=2">the label</a>'),
        ("<https://y.example>", '<a href="https://y.example">https://y.example</a>'),
        ("*<https://x.example|label>*", '<strong><a href="https://x.example">label</a></strong>'),
        ("ask <@U123> or <@U9|bo> in <#C1|general>, <!here>", "ask @colleague or @bo in #general, @here"),
        ("fish &amp; chips &lt;b&gt;", "fish &amp; chips &lt;b&gt;"),
        ("one\ntwo", "one<br>two"),
        ("&gt; quoted\n&gt; more\nanswer", "<blockquote>quoted<br>more</blockquote>answer"),
        ("snake_case_name and 2*3*4 stay text", "snake_case_name and 2*3*4 stay text"),
    ],
)
def test_mrkdwn_becomes_html(mrkdwn, expected):
    assert mrkdwn_to_html(mrkdwn) == expected


def test_slack_reply_html_only_when_there_is_formatting():
    assert reply_html("Floor 2, near <https://lib.example>") is None  # the plain path links bare URLs
    assert reply_html("*Floor 2*") == "<strong>Floor 2</strong>"  # the word about unsent files: test_staff_events
    assert reply_html("<javascript:alert(1)|click> <https://ok.example|ok>") == (
        f'<a {REL}>click</a> <a href="https://ok.example" {REL}>ok</a>'
    )


# -- the sanitiser --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ("<b>x</b><script>alert(1)</script>", "<b>x</b>"),
        ('<strong>x</strong><img src="a" onerror="alert(1)">', "<strong>x</strong>"),
        ('<em onclick="alert(1)">x</em>', "<em>x</em>"),
        ('<a href="javascript:alert(1)">x</a>', f"<a {REL}>x</a>"),
        ('<a href="/relative">x</a>', f"<a {REL}>x</a>"),
        ('<i style="color:red">x</i><style>i{}</style>', "<i>x</i>"),
        ('<iframe src="https://evil.example">inside</iframe><s>x</s>', "<s>x</s>"),
        ('<div class="c"><span>kept text</span></div>', "kept text"),
        (
            '<a href="mailto:desk@lib.example" target="_self" rel="opener">mail</a>',
            f'<a href="mailto:desk@lib.example" {REL}>mail</a>',
        ),
    ],
)
def test_the_sanitiser_strips_everything_outside_the_allowlist(dirty, clean):
    assert sanitise(dirty) == clean


def test_allowed_tags_survive_and_links_get_rel_and_target():
    allowed = (
        "<p><b>b</b><strong>s</strong><i>i</i><em>e</em><s>s</s><del>d</del><code>c</code><br></p>"
        "<pre>p</pre><ul><li>u</li></ul><ol><li>o</li></ol><blockquote>q</blockquote>"
    )
    assert sanitise(allowed) == allowed
    assert sanitise('<a href="https://x.example">x</a>') == f'<a href="https://x.example" {REL}>x</a>'


def test_staff_html_is_none_without_formatting():
    assert staff_html(None) is None
    assert staff_html("<p>just words</p>") is None
    assert staff_html('<a href="https://x.example">https://x.example</a>') is None
    assert staff_html("<script>alert(1)</script>") is None
    assert staff_html("<ul><li>one</li></ul>") == "<ul><li>one</li></ul>"


# -- Matrix ---------------------------------------------------------------------------


def matrix_reply(body: str, formatted: str | None, **extra) -> dict:
    content = {"msgtype": "m.text", "body": body, "m.relates_to": {"rel_type": "m.thread", "event_id": "$root"}}
    if formatted is not None:
        content.update(format="org.matrix.custom.html", formatted_body=formatted)
    content.update(extra)
    return {"type": "m.room.message", "sender": "@ann:localhost", "event_id": "$e", "content": content}


def test_matrix_formatted_body_is_sanitised_and_the_reply_fallback_dropped():
    formatted = "<mx-reply><blockquote>earlier <b>text</b></blockquote></mx-reply><b>Floor 2</b><script>x()</script>"
    intent = staff_intent(matrix_reply("> <@bo:l> earlier text\n\nFloor 2", formatted), BOT)
    assert (intent.action, intent.body, intent.html) == (Action.REPLY, "Floor 2", "<b>Floor 2</b>")
    assert staff_intent(matrix_reply("Floor 2", None), BOT).html is None
    assert staff_intent(matrix_reply("Floor 2", "<b>Floor 2</b>", format="other"), BOT).html is None


def test_a_matrix_edit_carries_the_new_formatting():
    new = {"msgtype": "m.text", "body": "Floor 3", "format": "org.matrix.custom.html", "formatted_body": "<em>3</em>"}
    event = matrix_reply("* Floor 3", None, **{"m.new_content": new})
    event["content"]["m.relates_to"] = {"rel_type": "m.replace", "event_id": "$original"}
    intent = staff_intent(event, BOT)
    assert (intent.action, intent.target, intent.html) == (Action.EDIT, "$original", "<em>3</em>")


# -- the domain -----------------------------------------------------------------------


def test_message_view_carries_html_an_edit_replaces_it_and_a_delete_clears_it():
    desk, store, _, _ = make_desk(GENERAL)
    conversation, token = uc.start_conversation(desk, "general")
    said = staff.staff_says(desk, conversation.id, "@ann:x", "Ann", "Floor 2", Inbound("matrix", "$r"), html="<b>2</b>")
    assert message_view(said)["html"] == "<b>2</b>"
    assert uc.read_messages(desk, conversation.id, token)[-1].html == "<b>2</b>"
    same_text = staff.staff_edits(desk, "$r", "@ann:x", "Floor 2", Inbound("matrix", "$e1"), html="<i>2</i>")
    assert message_view(same_text)["html"] == "<i>2</i>"  # only the formatting changed: still an edit
    plain = staff.staff_edits(desk, "$r", "@ann:x", "Floor 3", Inbound("matrix", "$e2"))
    assert message_view(plain)["html"] is None
    staff.staff_edits(desk, "$r", "@ann:x", "Floor 3", Inbound("matrix", "$e3"), html="<b>3</b>")
    staff.staff_deletes(desk, "$r", Inbound("matrix", "$x"))
    htmls = [(e.type, e.data["html"]) for e in store.events if e.type is not EventType.STATUS]
    assert htmls == [
        (EventType.MESSAGE, "<b>2</b>"),
        (EventType.MESSAGE_EDITED, "<i>2</i>"),
        (EventType.MESSAGE_EDITED, None),
        (EventType.MESSAGE_EDITED, "<b>3</b>"),
        (EventType.MESSAGE_DELETED, None),
    ]


def test_anonymising_drops_the_formatting():
    desk, store, clock, _ = make_desk(GENERAL)
    conversation, token = uc.start_conversation(desk, "general", name="Ann Lee")
    staff.staff_says(desk, conversation.id, "@bo:x", "Bo", "Hello Ann Lee", html="<b>Hello Ann Lee</b>")
    uc.close_by_patron(desk, conversation.id, token)
    assert retention.anonymise(desk, conversation.id)
    assert [m.html for m in store.messages.values()] == [None]
    assert not any(e.data.get("html") for e in store.events)
