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


ERRORS = {
    str(code): _json(_ref("Error"), text)
    for code, text in {
        400: "Malformed JSON",
        401: "Missing token",
        404: "Unknown queue, or no conversation for this token",
        409: "Conversation closed",
        413: "Body too long",
        422: "Invalid or empty field",
        403: "New chats from this address are blocked for now (!block)",
        429: "Too many requests (rate_limited), or too many chats waiting (desk_busy); see Retry-After",
    }.items()
}
CONVERSATION_ID = {
    "name": "conversation_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
}
SECURED = {"security": [{"conversationToken": []}]}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "refdesk patron API", "version": "1"},
    "paths": {
        "/api/v1/conversations": {
            "post": {
                "summary": "Start a conversation; the answer holds its secret token",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("NewConversation")}},
                },
                "responses": {"201": _json(_ref("CreatedConversation"), "Created")} | ERRORS,
            }
        },
        "/api/v1/conversations/{conversation_id}": {
            "get": {
                "summary": "The conversation's state",
                "parameters": [CONVERSATION_ID],
                **SECURED,
                "responses": {"200": _json(_ref("Conversation"), "State")} | ERRORS,
            },
            "delete": {
                "summary": "The patron deletes the conversation (the retention purge's path); the token stops working",
                "description": "The messages, files and events are deleted, and when the retention policy says so "
                "the Slack/Matrix copies too (by the worker, shortly after). Afterwards every call with the token "
                "gets 404.",
                "parameters": [CONVERSATION_ID],
                **SECURED,
                "responses": {"204": {"description": "Deleted"}} | ERRORS,
            },
        },
        "/api/v1/conversations/{conversation_id}/messages": {
            "post": {
                "summary": "Post a patron message; the same client_id twice creates one message",
                "parameters": [CONVERSATION_ID],
                **SECURED,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("NewMessage")}},
                },
                "responses": {
                    "201": _json(_ref("Message"), "Created"),
                    "200": _json(_ref("Message"), "Already posted"),
                }
                | ERRORS,
            },
            "get": {
                "summary": "Messages after a sequence number",
                "parameters": [
                    CONVERSATION_ID,
                    {
                        "name": "after",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0},
                    },
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
                | ERRORS,
            },
        },
        "/api/v1/conversations/{conversation_id}/events": {
            "get": {
                "summary": "Server-Sent Events (message, message_edited, message_deleted, status); id = seq",
                "parameters": [
                    CONVERSATION_ID,
                    {
                        "name": "token",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "For EventSource, which cannot set headers",
                    },
                    {
                        "name": "after",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0},
                    },
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "schema": {"type": "string"},
                    },
                ],
                **SECURED,
                "responses": {
                    "200": {
                        "description": "Event stream",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    "204": {"description": "Closed and nothing left to replay"},
                }
                | ERRORS,
            }
        },
        "/api/v1/conversations/{conversation_id}/files/{file_id}": {
            "get": {
                "summary": "Download a file staff shared (always as an attachment)",
                "parameters": [
                    CONVERSATION_ID,
                    {"name": "file_id", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "token", "in": "query", "schema": {"type": "string"}, "description": "For plain links"},
                ],
                **SECURED,
                "responses": {"200": {"description": "The file", "content": {"application/octet-stream": {}}}} | ERRORS,
            }
        },
        "/api/v1/conversations/{conversation_id}/close": {
            "post": {
                "summary": "The patron ends the chat",
                "parameters": [CONVERSATION_ID],
                **SECURED,
                "responses": {"200": _json(_ref("Conversation"), "Closed")} | ERRORS,
            },
        },
        "/api/v1/queues/{slug}/status": {
            "get": {
                "summary": "Whether the desk is open and staffed, and the away message",
                "parameters": [
                    {
                        "name": "slug",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {"200": _json(_ref("QueueStatus"), "Status")} | ERRORS,
            }
        },
    },
    "components": {
        "securitySchemes": {"conversationToken": {"type": "http", "scheme": "bearer"}},
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
                    "client_id": {"type": "string", "maxLength": 128},
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
                },
            },
        },
    },
}


@bp.get("/api/v1/openapi.json")
def openapi_document():
    return jsonify(SPEC)
