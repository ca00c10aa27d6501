"""The Pyrus help center's sample bot as a hookhost plugin, in Python.

It answers every event with `Hello, {user_name}! You said "{comment_text}".`,
where the name and text are those of the task's last comment: the same
answer as the Rust `guest-examples/echo-bot`.
"""

from wit_world import exports
from wit_world.imports import host
from wit_world.imports.pyrus_types import BotEvent, Comment
from wit_world.imports.types import Level


class PyrusBotHandler(exports.PyrusBotHandler):
    def handle(self, event: BotEvent) -> Comment | None:
        comments = event.task.comments
        if not comments:
            host.log(Level.INFO, f"task {event.task_id} has no comments; nothing to echo")
            # `none`: the host answers 200 with an empty body.
            return None
        last = comments[-1]
        if last.author is None:
            user_name = "there"
        else:
            user_name = f"{last.author.first_name} {last.author.last_name}".strip()
        host.log(Level.INFO, f"answering task {event.task_id}")
        return comment(text=f'Hello, {user_name}! You said "{last.text}".')


def comment(**fields) -> Comment:
    """A comment with only `fields` set; the host leaves unset ones out of the JSON.

    The generated dataclass has no defaults, so every field is spelled out once here.
    """
    empty = dict(
        text=None,
        formatted_text=None,
        approval_choice=None,
        action=None,
        reassign_to=None,
        participants_added=[],
        participants_removed=[],
        subscribers_added=[],
        subscribers_removed=[],
        approvals_added=[],
        approvals_removed=[],
        field_updates=[],
        due_date=None,
        due=None,
        duration=None,
        spent_minutes=None,
        attachments=[],
    )
    empty.update(fields)
    return Comment(**empty)
