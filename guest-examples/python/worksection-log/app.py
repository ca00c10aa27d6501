"""Logs every Worksection event as one line, like the Rust
`guest-examples/worksection-log`, and warns about high-priority tasks.

Config key: `high_priority` (a number, default 8). An event without an
object id is refused with `rejected`, which the host logs with the event
(Worksection already has its `{"status":"OK"}` by then).
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host
from wit_world.imports import worksection_types as ws
from wit_world.imports.types import Level, PluginError_Rejected

DEFAULT_HIGH_PRIORITY = 8.0

# Variant cases without a payload are classes of their own; `other` carries text.
ACTIONS = {
    ws.Action_Post: "post",
    ws.Action_Update: "update",
    ws.Action_Close: "close",
    ws.Action_Reopen: "reopen",
    ws.Action_Delete: "delete",
}
KINDS = {
    ws.ObjectKind_Task: "task",
    ws.ObjectKind_Comment: "comment",
    ws.ObjectKind_Project: "project",
}


def name_of(value, names) -> str:
    return names.get(type(value)) or value.value


class WorksectionHandler(exports.WorksectionHandler):
    def handle(self, event: ws.Event) -> None:
        if not event.object_id:
            # `err(rejected(...))`: raise Err with the plugin-error case.
            raise Err(PluginError_Rejected("event without an object id"))
        action = name_of(event.action, ACTIONS)
        kind = name_of(event.object_kind, KINDS)
        title = (event.new and event.new.title) or (event.old and event.old.title) or ""
        by = f"{event.user.name} <{event.user.email}>" if event.user else "unknown"
        host.log(Level.INFO, f'{action} {kind} #{event.object_id} "{title}" by {by} {event.page}')

        priority = event.new.priority if event.new else None
        if priority is None:
            return  # `ok(())`: returning normally is success
        threshold = DEFAULT_HIGH_PRIORITY
        configured = host.get_config("high_priority")  # None when not set
        if configured is not None:
            try:
                threshold = float(configured)
            except ValueError:
                host.log(Level.WARN, f"config high_priority {configured!r} is not a number; using 8")
        try:
            if float(priority) >= threshold:
                host.log(
                    Level.WARN,
                    f'high priority: #{event.object_id} "{title}" has priority {priority} (>= {threshold:g})',
                )
        except ValueError:
            pass  # Not a number: nothing to compare.
