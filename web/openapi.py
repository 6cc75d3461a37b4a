"""The OpenAPI 3.1 document for the patron API, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

bp = Blueprint("openapi", __name__)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }


ERROR_TEXT = {
    400: "Malformed JSON, or nested too deeply",
    401: "Missing token (send it as 'Authorization: Bearer <token>')",
    404: "Unknown queue, or no conversation for this token",
    409: "Conversation closed, its one transcript already sent, no email set up (email_unavailable), "
    "or the chat's screen pictures used up (screen_limit)",
    410: "The link from a follow-up email has expired",
    413: "Body or file too large",
    415: "Not an accepted kind of file",
    422: "Invalid, empty or malformed field (NUL, lone surrogate); the message names the field",
    403: "New chats from this address are blocked for now (!block)",
}
RATE_LIMITED = {
    "description": "Too many requests (rate_limited) or chats waiting (desk_busy); try again after Retry-After seconds",
    "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 0}, "description": "Seconds to wait"}},
    "content": {"application/json": {"schema": _ref("Error")}},
}


def errors(*codes: int) -> dict[str, Any]:
    """The error answers an operation can give; every one may also be rate limited (429)."""
    return {str(code): _json(_ref("Error"), ERROR_TEXT[code]) for code in codes} | {"429": RATE_LIMITED}


ID_PATTERN = "^[0-9a-f]{32}$"  # refdesk's ids (uuid4 hex), checked before any query (web.validation)
SLUG_PATTERN = "^[a-z0-9][a-z0-9-]{0,39}$"  # router.queue_setup.SLUG
CONVERSATION_ID = {
    "name": "conversation_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": ID_PATTERN},
}
SECURED = {"security": [{"conversationToken": []}]}
READ = errors(400, 401, 404, 410, 422)  # 400: a malformed path id or cursor
WRITE = errors(400, 401, 404, 409, 410, 413, 422)


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


def _chat_link(operation: str) -> dict[str, Any]:
    """An OpenAPI link: use the new conversation's id and token (lets schemathesis test statefully)."""
    return {
        "operationId": operation,
        "parameters": {
            "path.conversation_id": "$response.body#/id",
            "header.Authorization": "Bearer {$response.body#/token}",
        },
    }


LINKED = ("getConversation", "deleteConversation", "postMessage", "listMessages", "uploadFile", "closeConversation")
LINKED += ("answerByEmail", "rateConversation", "emailTranscript")

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "refdesk patron API", "version": "1"},
    "paths": {
        "/api/v1/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "responses": {"200": _json({"type": "object"}, "The OpenAPI document")} | errors(),
            }
        },
        "/api/v1/conversations": {
            "post": {
                "operationId": "startConversation",
                "summary": "Start a conversation; the answer holds its secret token",
                "requestBody": _body("NewConversation"),
                "responses": {
                    "201": _json(_ref("CreatedConversation"), "Created")
                    | {"links": {name: _chat_link(name) for name in LINKED}}
                }
                | errors(400, 403, 404, 413, 422),
            }
        },
        "/api/v1/conversations/{conversation_id}": {
            "get": {
                "operationId": "getConversation",
                "summary": "The conversation's state",
                "parameters": [CONVERSATION_ID],
                **SECURED,
                "responses": {"200": _json(_ref("Conversation"), "State")} | READ,
            },
            "delete": {
                "operationId": "deleteConversation",
                "summary": "The patron deletes the conversation (the retention purge's path); the token stops working",
                "description": "The messages, files and events are deleted, and when the retention policy says so "
                "the Slack/Matrix copies too (by the worker, shortly after). Afterwards every call with the token "
                "gets 404.",
                "parameters": [CONVERSATION_ID],
                **SECURED,
                "responses": {"204": {"description": "Deleted"}} | READ,
            },
        },
        "/api/v1/conversations/{conversation_id}/messages": {
            "post": {
                "operationId": "postMessage",
                "summary": "Post a patron message; the same client_id twice creates one message",
                "parameters": [CONVERSATION_ID],
                **SECURED,
                "requestBody": _body("NewMessage"),
                "responses": {
                    "201": _json(_ref("Message"), "Created"),
                    "200": _json(_ref("Message"), "Already posted"),
                }
                | WRITE,
            },
            "get": {
                "operationId": "listMessages",
                "summary": "Messages after a sequence number",
                "parameters": [
                    CONVERSATION_ID,
                    {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}},
                ],
                **SECURED,
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"messages": {"type": "array", "items": _ref("Message")}},
                        },
                        "Messages",
                    )
                }
                | READ,
            },
        },
        "/api/v1/conversations/{conversation_id}/events": {
            "get": {
                "operationId": "events",
                "summary": "Server-Sent Events (message, message_edited, message_deleted, status); id = seq",
                "description": "The only operation that also takes the token as `?token=` (EventSource cannot set "
                "headers); every other one needs the Authorization header. An open stream keeps a waiting chat "
                "in line; a chat closed because its patron left has a `status` event with `abandoned: true`, and "
                "connecting within REFDESK_ABANDON_AFTER_MINUTES of that close reopens it.",
                "parameters": [
                    CONVERSATION_ID,
                    {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}},
                    {"name": "Last-Event-ID", "in": "header", "schema": {"type": "string"}},
                ],
                "security": [{"conversationToken": []}, {"streamToken": []}],
                "responses": {
                    "200": {
                        "description": "Event stream",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    "204": {"description": "Closed and nothing left to replay"},
                }
                | READ,
            }
        },
        "/api/v1/conversations/{conversation_id}/files": {
            "post": {
                "operationId": "uploadFile",
                "summary": "Send a file (image, PDF or plain text, checked by content) to the staff thread",
                "parameters": [CONVERSATION_ID],
                **SECURED,
                "requestBody": {
                    "required": True,
                    "content": {"multipart/form-data": {"schema": _ref("NewFile")}},
                },
                "responses": {
                    "201": _json(_ref("Message"), "Sent")
                    | {
                        "links": {
                            "downloadFile": {
                                "operationId": "downloadFile",
                                "parameters": {
                                    "path.conversation_id": "$request.path.conversation_id",
                                    "path.file_id": "$response.body#/attachments/0/id",
                                    "header.Authorization": "$request.header.Authorization",
                                },
                            }
                        }
                    },
                    "200": _json(_ref("Message"), "Already sent (same client_id)"),
                }
                | errors(400, 401, 404, 409, 413, 415, 422),
            }
        },
        "/api/v1/conversations/{conversation_id}/messages/{message_id}/opened": {
            "post": {
                "operationId": "linkOpened",
                "summary": "The patron opened a librarian's link card (`link` on a message): staff are told once",
                "parameters": [
                    CONVERSATION_ID,
                    {
                        "name": "message_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": ID_PATTERN},
                    },
                ],
                **SECURED,
                "responses": {"204": {"description": "Noted"}} | READ,
            }
        },
        "/api/v1/conversations/{conversation_id}/files/{file_id}": {
            "get": {
                "operationId": "downloadFile",
                "summary": "Download a file of this conversation (always as an attachment)",
                "parameters": [
                    CONVERSATION_ID,
                    {
                        "name": "file_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": ID_PATTERN},
                    },
                ],
                **SECURED,
                "responses": {"200": {"description": "The file", "content": {"*/*": {}}}} | READ,
            }
        },
        "/api/v1/conversations/{conversation_id}/close": {
            "post": {
                "operationId": "closeConversation",
                "summary": "The patron ends the chat (optionally: a published FAQ answer answered the question)",
                "parameters": [CONVERSATION_ID],
                **SECURED,
                "requestBody": {"required": False, "content": {"application/json": {"schema": _ref("CloseChat")}}},
                "responses": {"200": _json(_ref("Conversation"), "Closed")} | WRITE,
            },
        },
        "/api/v1/conversations/{conversation_id}/answer-by-email": {
            "post": {
                "operationId": "answerByEmail",
                "summary": "Stop waiting: a librarian answers by email instead (the chat becomes an offline question)",
                "parameters": [CONVERSATION_ID],
                **SECURED,
                "requestBody": _body("EmailAddress"),
                "responses": {"200": _json(_ref("Conversation"), "Now an offline question")} | WRITE,
            },
        },
        "/api/v1/conversations/{conversation_id}/rating": {
            "post": {
                "operationId": "rateConversation",
                "summary": "Rate the chat from 1 to 5, with an optional comment (the latest rating counts)",
                "parameters": [CONVERSATION_ID],
                **SECURED,
                "requestBody": _body("NewRating"),
                "responses": {"200": _json(_ref("Rating"), "Rated")} | WRITE,
            },
        },
        "/api/v1/conversations/{conversation_id}/transcript": {
            "post": {
                "operationId": "emailTranscript",
                "summary": "Email the transcript (sent by the worker, with retries)",
                "parameters": [CONVERSATION_ID],
                **SECURED,
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": _ref("EmailAddress")}},
                },
                "responses": {"202": _json(_ref("TranscriptQueued"), "Queued for email")} | WRITE,
            },
        },
        "/api/v1/queues/{slug}/status": {
            "get": {
                "operationId": "queueStatus",
                "summary": "Whether the desk is open and staffed, and the away message",
                "parameters": [
                    {
                        "name": "slug",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": SLUG_PATTERN},
                    },
                    {"name": "lang", "in": "query", "schema": {"type": "string", "maxLength": 35}},
                    {
                        "name": "opened",
                        "in": "query",
                        "schema": {"enum": ["1"]},
                        "description": "The widget was opened",
                    },
                ],
                "responses": {"200": _json(_ref("QueueStatus"), "Status")} | errors(400, 404, 422),
            }
        },
        "/api/v1/faq": {
            "get": {
                "operationId": "searchFaq",
                "summary": "Published FAQ answers: best matches for `q`, or the newest without it (drafts never)",
                "parameters": [
                    {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 200}},
                    {
                        "name": "lang",
                        "in": "query",
                        "schema": {"type": "string", "pattern": "^[a-z]{2,3}(-[a-zA-Z0-9]{2,8})?$", "maxLength": 16},
                        "description": "Only answers in this language",
                    },
                    {
                        "name": "queue",
                        "in": "query",
                        "schema": {"type": "string", "pattern": SLUG_PATTERN},
                        "description": "A queue's FAQ: its own answers and the whole library's",
                    },
                    {"name": "topic", "in": "query", "schema": {"type": "string", "maxLength": 64}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 20}},
                    {
                        "name": "suggest",
                        "in": "query",
                        "schema": {"enum": ["1"]},
                        "description": "The widget's as-you-type look-up: at most 3, not counted, its words never kept",
                    },
                ],
                "responses": {"200": _json(_ref("FaqResults"), "Published answers")} | errors(404, 422),
            }
        },
        "/api/v1/faq/{article_id}": {
            "get": {
                "operationId": "getFaqEntry",
                "summary": "One published answer (a draft is a 404, like an id that never existed)",
                "parameters": [
                    {"name": "article_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}
                ],
                "responses": {"200": _json(_ref("FaqEntry"), "The answer")} | errors(404),
            }
        },
        "/api/v1/faq/usage": {
            "post": {
                "operationId": "countFaqUsage",
                "summary": "Widget use of answers: shown, opened, answered the question (no patron data)",
                "requestBody": _body("FaqUsage"),
                "responses": {"204": {"description": "Counted"}} | errors(400, 404, 413, 422),
            }
        },
    },
    "components": {
        "securitySchemes": {
            "conversationToken": {"type": "http", "scheme": "bearer"},
            "streamToken": {"type": "apiKey", "in": "query", "name": "token", "description": "Event stream only"},
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {
                            "code": {"type": "string"},
                            "message": {"type": "string"},
                            "field": {"type": "string", "description": "The field that was wrong, when one was"},
                        },
                    }
                },
            },
            "NewConversation": {
                "type": "object",
                "required": ["queue"],
                "properties": {
                    "queue": {"type": "string"},
                    "name": {"type": "string", "maxLength": 500},
                    "email": {"type": "string", "maxLength": 500},
                    "page_url": {"type": "string", "maxLength": 500},
                    "language": {"type": "string", "maxLength": 500},
                    "offline": {
                        "type": "boolean",
                        "description": "A question left while the desk is closed; needs email",
                    },
                },
            },
            "Conversation": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "queue": {"type": "string"},
                    "status": {"enum": ["waiting", "active", "closed"]},
                    "claimed_by": {"type": ["string", "null"]},
                    "created_at": {"type": "string", "format": "date-time"},
                    "last_seq": {"type": "integer"},
                    "email": {
                        "type": ["string", "null"],
                        "description": "The one address this chat's emails go to; set once, then fixed",
                    },
                    "email_available": {
                        "type": "boolean",
                        "description": "false: no mail server, nothing can be emailed",
                    },
                },
            },
            "CreatedConversation": {
                "allOf": [
                    _ref("Conversation"),
                    {"type": "object", "properties": {"token": {"type": "string"}}},
                ]
            },
            "NewMessage": {
                "type": "object",
                "required": ["body"],
                "properties": {
                    "body": {"type": "string", "minLength": 1, "maxLength": 4000},
                    "client_id": {"type": "string", "minLength": 1, "maxLength": 128},
                },
            },
            "Message": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "seq": {"type": "integer"},
                    "author": {"enum": ["patron", "staff", "system"]},
                    "author_name": {"type": ["string", "null"]},
                    "body": {"type": "string"},
                    "html": {
                        "type": ["string", "null"],
                        "description": "A staff reply's formatting, sanitised by refdesk (b, strong, i, em, s, del, "
                        "code, pre, a, p, br, ul, ol, li, blockquote; links http/https/mailto); null: show `body` "
                        "as text",
                    },
                    "client_id": {"type": ["string", "null"]},
                    "created_at": {"type": "string", "format": "date-time"},
                    "edited": {"type": "boolean"},
                    "attachments": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "id": {"type": "string"},
                                "name": {"type": "string"},
                                "mimetype": {"type": "string"},
                                "size": {"type": "integer"},
                            },
                        },
                    },
                    "deleted": {"type": "boolean"},
                    "link": {
                        "type": ["object", "null"],
                        "description": "A librarian's link card (`!show URL text`): an http(s) page to offer the "
                        "patron with an Open button; `body` holds the same as plain text",
                        "properties": {"url": {"type": "string"}, "text": {"type": "string"}},
                    },
                },
            },
            "NewFile": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "client_id": {"type": "string", "maxLength": 128},
                    "screen": {
                        "enum": ["0", "1"],
                        "description": "1: a picture of the patron's screen (an image; at most "
                        "REFDESK_SCREEN_FRAMES_PER_CHAT per chat, then 409 screen_limit)",
                    },
                },
            },
            "EmailAddress": {
                "type": "object",
                "properties": {"email": {"type": "string", "format": "email", "maxLength": 500}},
            },
            "NewRating": {
                "type": "object",
                "required": ["score"],
                "properties": {
                    "score": {"type": "integer", "minimum": 1, "maximum": 5},
                    "comment": {"type": ["string", "null"], "maxLength": 2000},
                },
            },
            "Rating": {
                "type": "object",
                "properties": {
                    "rating": {"type": "integer", "minimum": 1, "maximum": 5},
                    "comment": {"type": ["string", "null"]},
                },
            },
            "TranscriptQueued": {
                "type": "object",
                "properties": {"queued": {"const": True}, "to": {"type": "string"}},
            },
            "CloseChat": {
                "type": "object",
                "properties": {
                    "answered_by_faq": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "The published FAQ entry that answered the question: staff are told which",
                    }
                },
            },
            "FaqEntry": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "question": {"type": "string"},
                    "answer": {
                        "type": "string",
                        "description": "HTML, sanitised by refdesk with the staff replies' allowlist",
                    },
                    "language": {"type": "string"},
                    "queue": {"type": ["string", "null"], "description": "null: the whole library's"},
                    "topics": {"type": "array", "items": {"type": "string"}},
                    "url": {"type": "string", "description": "The answer's public page, /faq/<id>-<slug>"},
                    "published_at": {"type": ["string", "null"], "format": "date-time"},
                },
            },
            "FaqResults": {
                "type": "object",
                "properties": {
                    "results": {"type": "array", "items": _ref("FaqEntry")},
                    "count": {"type": "integer"},
                },
            },
            "FaqUsage": {
                "type": "object",
                "required": ["event", "articles"],
                "properties": {
                    "event": {"enum": ["shown", "opened", "answered"]},
                    "articles": {
                        "type": "array",
                        "items": {"type": "integer", "minimum": 1},
                        "minItems": 1,
                        "maxItems": 3,
                    },
                    "queue": {"type": ["string", "null"], "pattern": SLUG_PATTERN},
                    "lang": {"type": ["string", "null"], "maxLength": 16},
                },
            },
            "QueueStatus": {
                "type": "object",
                "properties": {
                    "queue": {"type": "string"},
                    "name": {"type": "string"},
                    "open": {"type": "boolean"},
                    "staffed": {"type": "boolean"},
                    "message": {"type": ["string", "null"]},
                    "email_available": {
                        "type": "boolean",
                        "description": "false: no mail server, nothing can be emailed",
                    },
                },
            },
        },
    },
}


@bp.get("/api/v1/openapi.json")
def openapi_document():
    return jsonify(SPEC)
