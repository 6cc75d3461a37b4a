"""Finding every event of a thread: recursive /relations, the walk for servers without it, paging, order."""

from adapters.matrix.relations import related_events
from tests import own_loop

# root ← reply (thread) ← edit of the reply, reaction on the reply; root ← root edit; reply ← reaction on the edit
THREAD = {
    "$root": [("$reply", "m.thread"), ("$root-edit", "m.replace")],
    "$reply": [("$reply-edit", "m.replace"), ("$reply-reaction", "m.annotation")],
    "$reply-edit": [("$deep-reaction", "m.annotation")],
}


def event(event_id, parent, rel_type):
    return {"event_id": event_id, "content": {"m.relates_to": {"rel_type": rel_type, "event_id": parent}}}


class Server:
    """A homeserver's /relations: pages of one event, `recurse` honoured or ignored, 404 outside the room."""

    def __init__(self, recursive: bool, page_size: int = 1):
        self.recursive, self.page_size, self.calls = recursive, page_size, []

    def _children(self, event_id, depth):
        found = []
        for child, rel_type in THREAD.get(event_id, []):
            found.append(event(child, event_id, rel_type))
            if depth > 1:
                found += self._children(child, depth - 1)
        return found

    async def fetch(self, event_id, recurse, token):
        self.calls.append((event_id, recurse, token))
        if event_id not in THREAD and event_id not in {c for cs in THREAD.values() for c, _ in cs}:
            return None
        everything = self._children(event_id, 3 if recurse and self.recursive else 1)
        start = int(token or 0)
        page = {"chunk": everything[start : start + self.page_size]}
        if start + self.page_size < len(everything):
            page["next_batch"] = str(start + self.page_size)
        if recurse and self.recursive:
            page["recursion_depth"] = 3
        return page


def found(server, known=()):
    return own_loop.run(related_events(server.fetch, "$root", known))


ALL = {"$root", "$reply", "$root-edit", "$reply-edit", "$reply-reaction", "$deep-reaction"}


def test_a_recursive_server_gives_edits_and_reactions_of_replies_children_first_and_the_root_last():
    server = Server(recursive=True)
    order = found(server)
    assert set(order) == ALL and order[-1] == "$root"
    assert order.index("$deep-reaction") < order.index("$reply-edit") < order.index("$reply")
    assert all(event_id == "$root" for event_id, _, _ in server.calls)  # one listing, paged with next_batch


def test_without_recurse_each_event_is_walked():
    server = Server(recursive=False, page_size=2)
    order = found(server)
    assert set(order) == ALL and order[-1] == "$root"
    assert {event_id for event_id, _, _ in server.calls} >= {"$root", "$reply", "$reply-edit"}


def test_known_copies_from_another_room_are_left_out_and_known_ones_here_are_kept():
    order = found(Server(recursive=True), known=["$elsewhere", "$reply"])
    assert "$elsewhere" not in order and set(order) == ALL


def test_a_root_that_is_not_in_the_room_gives_nothing():
    async def missing(event_id, recurse, token):
        return None

    assert own_loop.run(related_events(missing, "$root", ["$x"])) == []
