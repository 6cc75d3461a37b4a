"""The FAQ pages (/admin/faq): review drafts, edit, publish, merge, import and export the knowledge base.

Admins and editors change entries; viewers read them; an editor may open no other admin page
(router.admins). The use cases are router.faq_entries and router.faq_import; this module only
reads forms and shows results.
"""

from __future__ import annotations

from datetime import date

from flask import Response, abort, redirect, request, url_for

from router import errors, faq, faq_entries, faq_import
from router.faq_entries import FaqArticle
from web.admin import admin_bp
from web.admin.auth import current_admin, requires
from web.admin.forms import attempt, done, page
from web.context import container, desk

LANGUAGES = (("en", "English"), ("es", "Spanish"), ("fr", "French"))
MAX_UPLOAD = 2 * 1024 * 1024


def _queues() -> list:
    with desk().uow(read_only=True) as uow:
        return uow.queues.list()


def _filters() -> dict[str, str]:
    args = request.args
    return {key: args.get(key, "").strip()[:200] for key in ("status", "language", "queue", "q")}


def _list_page(error: str | None = None, status: int | None = None):
    filters = _filters()
    try:
        if filters["q"]:
            hits = faq_entries.search(
                desk(),
                filters["q"],
                language=filters["language"] or None,
                queue=filters["queue"] or None,
                limit=50,
                published_only=filters["status"] == "published",
            )
            articles = [h.article for h in hits if not filters["status"] or h.article.status == filters["status"]]
        else:
            articles = faq_entries.list_articles(
                desk(),
                status=filters["status"] or None,
                language=filters["language"] or None,
                queue_slug=None if not filters["queue"] else ("" if filters["queue"] == "-" else filters["queue"]),
            )
    except errors.RefdeskError as exc:
        articles, error = [], str(exc)
    rendered = page(
        "admin/faq.html",
        title="FAQ",
        articles=articles,
        filters=filters,
        queues=_queues(),
        languages=LANGUAGES,
        editable=_editable(),
        error=error,
        form=request.form,
    )
    return (rendered[0], status) if status else rendered


def _editable() -> bool:
    user = current_admin()
    return user is not None and user.role in ("admin", "editor")


@admin_bp.get("/faq")
@requires("editor")
def faq_list():
    return _list_page()


def _article_from_form(article_id: int | None) -> FaqArticle:
    form = request.form
    translation = form.get("translation_of", "").strip().lstrip("#")
    if translation and not translation.isdigit():
        raise errors.InvalidInput("“translation of” is the number of another entry, e.g. 12")
    stored = faq_entries.get(desk(), article_id) if article_id is not None else None
    return FaqArticle(
        id=article_id,
        question=form.get("question", ""),
        answer=form.get("answer", ""),
        language=form.get("language", "en"),
        queue_slug=form.get("queue", "").strip() or None,
        topics=form.get("topics", "")[:2000],  # type: ignore[arg-type]  (checked into a list by save)
        status=stored.status if stored else "draft",
        translation_of=int(translation) if translation else None,
    )


def _edit_page(article: FaqArticle | None, error: str | None = None):
    return page(
        "admin/faq_edit.html",
        title=f"FAQ entry #{article.id}" if article and article.id else "New FAQ entry",
        article=article,
        queues=_queues(),
        languages=LANGUAGES,
        editable=_editable(),
        error=error,
        form=request.form if error else None,
    )


@admin_bp.get("/faq/new")
@requires("editor")
def faq_new():
    return _edit_page(None)


@admin_bp.post("/faq/new")
@requires("editor")
def faq_create():
    saved: list[FaqArticle] = []
    error = attempt(lambda: saved.append(faq_entries.save(desk(), _article_from_form(None))))
    if error:
        return _edit_page(None, error)
    done(f"FAQ entry #{saved[0].id} saved as a draft.")
    return redirect(url_for("admin.faq_edit", article_id=saved[0].id))


def _article_or_404(article_id: int) -> FaqArticle:
    article = faq_entries.get(desk(), article_id)
    if article is None:
        abort(404)
    return article


@admin_bp.get("/faq/<int:article_id>")
@requires("editor")
def faq_edit(article_id: int):
    return _edit_page(_article_or_404(article_id))


@admin_bp.post("/faq/<int:article_id>")
@requires("editor")
def faq_save(article_id: int):
    article = _article_or_404(article_id)
    error = attempt(lambda: faq_entries.save(desk(), _article_from_form(article_id)))
    if error:
        return _edit_page(article, error)
    done(f"FAQ entry #{article_id} saved.")
    return redirect(url_for("admin.faq_edit", article_id=article_id))


def _action(article_id: int, action, message: str):  # type: ignore[no-untyped-def]
    article = _article_or_404(article_id)
    error = attempt(lambda: action(desk(), article_id))
    if error:
        return _edit_page(article, error)
    done(message)
    if request.form.get("back") == "list":
        return redirect(url_for("admin.faq_list"))
    return redirect(url_for("admin.faq_edit", article_id=article_id))


@admin_bp.post("/faq/<int:article_id>/publish")
@requires("editor")
def faq_publish(article_id: int):
    return _action(article_id, faq_entries.publish, f"FAQ entry #{article_id} published: patrons can find it now.")


@admin_bp.post("/faq/<int:article_id>/unpublish")
@requires("editor")
def faq_unpublish(article_id: int):
    return _action(article_id, faq_entries.unpublish, f"FAQ entry #{article_id} is a draft again.")


@admin_bp.post("/faq/<int:article_id>/delete")
@requires("editor")
def faq_delete(article_id: int):
    article = _article_or_404(article_id)
    error = attempt(lambda: faq_entries.delete(desk(), article_id))
    if error:
        return _edit_page(article, error)
    done(f"FAQ entry #{article_id} deleted.")
    return redirect(url_for("admin.faq_list"))


@admin_bp.post("/faq/merge")
@requires("editor")
def faq_merge():
    keep, drop = request.form.get("keep", "").strip().lstrip("#"), request.form.get("drop", "").strip().lstrip("#")
    if not (keep.isdigit() and drop.isdigit()):
        return _list_page("give the numbers of the entry to keep and the duplicate to merge into it", 422)
    error = attempt(lambda: faq_entries.merge(desk(), int(keep), int(drop)))
    if error:
        return _list_page(error, 422)
    done(f"FAQ entry #{drop} merged into #{keep}.")
    return redirect(url_for("admin.faq_edit", article_id=int(keep)))


@admin_bp.post("/faq/import")
@requires("editor")
def faq_import_upload():
    upload = request.files.get("file")
    text = request.form.get("text", "")
    if upload is not None and upload.filename:
        data = upload.read(MAX_UPLOAD + 1)
        if len(data) > MAX_UPLOAD:
            return _list_page("the file is larger than 2 MB: split it", 422)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return _list_page("the file is not UTF-8 text: save it as UTF-8 CSV or Markdown", 422)
    if len(text) > MAX_UPLOAD:
        return _list_page("the text is longer than 2 MB: split it", 422)
    fmt = request.form.get("format", "")
    if fmt not in faq_import.FORMATS and upload is not None and upload.filename:
        fmt = "csv" if upload.filename.lower().endswith(".csv") else "md"
    imported: list = []
    publish = request.form.get("publish") == "on"
    error = attempt(lambda: imported.extend(faq_import.import_entries(desk(), text, fmt, publish)))
    if error:
        return _list_page(f"Import: {error}", 422)
    done(f"{len(imported)} FAQ entries imported{' and published' if publish else ' as drafts'}.")
    return redirect(url_for("admin.faq_list"))


@admin_bp.get("/faq.<fmt>")
@requires("editor")
def faq_export(fmt: str):
    """The FAQ candidates (marked chats) with personal data scrubbed, as Markdown or CSV (as before the
    knowledge base; filters as on the statistics page)."""
    try:
        start = date.fromisoformat(request.args["from"]) if request.args.get("from") else None
        end = date.fromisoformat(request.args["to"]) if request.args.get("to") else None
        text = faq.export(
            desk(),
            fmt,
            start=start,
            end=end,
            queue_slug=request.args.get("queue") or None,
            card_pattern=container().settings.card_number_pattern,
        )
    except (ValueError, errors.RefdeskError) as exc:
        return _list_page(f"FAQ export: {exc}", 422)
    mimetype = "text/csv" if fmt == "csv" else "text/markdown"
    disposition = {"Content-Disposition": f'attachment; filename="refdesk-faq.{fmt}"', "Cache-Control": "no-store"}
    return Response(text, mimetype=f"{mimetype}; charset=utf-8", headers=disposition)


@admin_bp.get("/faq/entries.<fmt>")
@requires("editor")
def faq_entries_export(fmt: str):
    """Every entry of the knowledge base (the filters of the list apply), as CSV or Markdown."""
    filters = _filters()
    try:
        articles = faq_entries.list_articles(
            desk(), status=filters["status"] or None, language=filters["language"] or None, limit=100_000
        )
        text = faq_import.export(articles, fmt)
    except errors.RefdeskError as exc:
        return _list_page(f"Export: {exc}", 422)
    mimetype = "text/csv" if fmt == "csv" else "text/markdown"
    headers = {"Content-Disposition": f'attachment; filename="refdesk-faq-entries.{fmt}"', "Cache-Control": "no-store"}
    return Response(text, mimetype=f"{mimetype}; charset=utf-8", headers=headers)
