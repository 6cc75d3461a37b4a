"""Access to the composition root from inside a request."""

from flask import current_app

from adapters.bootstrap import Container
from router.journal import Desk


def container() -> Container:
    return current_app.extensions["refdesk"]


def desk() -> Desk:
    return container().desk
