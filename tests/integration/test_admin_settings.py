"""The settings page: the retention policy (admins change it, viewers read it) and the FAQ export download."""

from __future__ import annotations

from router import conversations, retention, staff, tagging
from tests.integration.test_admin_auth import app, csrf, sign_in  # noqa: F401 - `app` is the shared fixture


def save(client, **fields):
    data = {"csrf_token": csrf(client, "/admin/settings"), **fields}
    return client.post("/admin/settings/retention", data=data)


def test_an_admin_sets_the_retention_policy_and_a_bad_one_changes_nothing(app):  # noqa: F811
    desk = app.extensions["refdesk"].desk
    client = app.test_client()
    sign_in(client, "ada")
    response = save(client, anonymise_after_days="30", delete_after_days="365", purge_platform_copies="on")
    assert response.status_code == 302
    assert retention.get_policy(desk) == retention.Policy(30, 365, True)
    page = client.get("/admin/settings").get_data(as_text=True)
    assert "Personal details are removed from chats after 30 days" in page
    refused = save(client, anonymise_after_days="90", delete_after_days="10")
    assert refused.status_code == 422 and "sooner than anonymise_after_days" in refused.get_data(as_text=True)
    assert retention.get_policy(desk) == retention.Policy(30, 365, True)
    assert save(client, anonymise_after_days="", delete_after_days="").status_code == 302
    assert retention.get_policy(desk) == retention.Policy(None, None, False)


def test_a_viewer_reads_the_policy_but_cannot_change_it(app):  # noqa: F811
    desk = app.extensions["refdesk"].desk
    client = app.test_client()
    sign_in(client, "vic")
    page = client.get("/admin/settings").get_data(as_text=True)
    assert "No retention policy" in page and 'action="/admin/settings/retention"' not in page
    assert save(client, delete_after_days="5").status_code == 403
    assert retention.get_policy(desk) == retention.Policy()


def test_faq_export_is_scrubbed_markdown_or_csv(app):  # noqa: F811
    desk = app.extensions["refdesk"].desk
    chat, token = conversations.start_conversation(desk, "general", name="Ada Lovelace")
    conversations.patron_says(desk, chat.id, token, "I am Ada, mail me at ada@example.org: can I renew?", "q1")
    staff.staff_says(desk, chat.id, "@ann:l", "Ann", "Yes, Ada: renew online twice.")
    tagging.set_faq_candidate(desk, chat.id)
    client = app.test_client()
    sign_in(client, "vic")
    markdown = client.get("/admin/faq.md")
    text = markdown.get_data(as_text=True)
    assert markdown.status_code == 200 and "attachment" in markdown.headers["Content-Disposition"]
    assert "can I renew?" in text and "renew online twice" in text
    assert "ada@example.org" not in text and "Ada" not in text
    csv = client.get("/admin/faq.csv")
    assert csv.mimetype == "text/csv" and "renew online twice" in csv.get_data(as_text=True)
    assert client.get("/admin/faq.pdf").status_code == 422
