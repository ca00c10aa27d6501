"""Worksection task events as Pyrus task comments, through the Pyrus API v4.

For each Worksection task event the plugin adds a comment to the matching
Pyrus task (`POST /tasks/{id}/comments`). The first time a Worksection task
is seen it creates the Pyrus task (`POST /tasks`) and keeps the mapping in
its wasi:keyvalue state (`task/{worksection id}` -> Pyrus task id).

It authenticates as a Pyrus bot: `POST {auth_url}` with the bot's `login`
and `security_key` gives an `access_token` (and the `api_url` to use),
kept in state and reused until the API refuses it as expired or revoked;
then the plugin authenticates again and repeats the call once.

Config keys: `login`, `security_key` (secrets: the bot's), `auth_url`
(default https://accounts.pyrus.com/api/v4/auth), `api_url` (used when the
auth answer names none; default https://api.pyrus.com/v4/),
`worksection_url` (your account's address, to link back; optional).

Errors: a Pyrus API that cannot be reached or fails is `unavailable`; a
refused login or a Pyrus answer the plugin cannot use is `internal`. The
host logs them with the event (Worksection already has its answer).
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host, store
from wit_world.imports import worksection_types as ws
from wit_world.imports.hookhost_plugin_types import (
    Level,
    PluginError_Internal,
    PluginError_Rejected,
    PluginError_Unavailable,
)

from http_client import HttpError, request_json

DEFAULT_AUTH_URL = "https://accounts.pyrus.com/api/v4/auth"
DEFAULT_API_URL = "https://api.pyrus.com/v4/"
TOKEN_KEY = "pyrus/token"
# What Pyrus answers (401) for a token that must be replaced.
STALE_TOKEN = {"expired_token", "revoked_token", "invalid_token", "token_not_specified"}

ACTIONS = {
    ws.Action_Post: "created",
    ws.Action_Update: "updated",
    ws.Action_Close: "closed",
    ws.Action_Reopen: "reopened",
    ws.Action_Delete: "deleted",
}


class Bucket:
    """The plugin's own wasi:keyvalue bucket, with its errors made typed."""

    def __init__(self):
        self.bucket = self._call("open the state bucket", store.open, "default")

    def get(self, key: str) -> str | None:
        value = self._call("read the state", self.bucket.get, key)
        return value.decode() if value is not None else None

    def set(self, key: str, value: str) -> None:
        self._call("write the state", self.bucket.set, key, value.encode())

    @staticmethod
    def _call(what, function, *args):
        try:
            return function(*args)
        except Err as e:
            why = getattr(e.value, "value", None) or type(e.value).__name__.removeprefix("Error_")
            # State trouble is temporary as far as this event is concerned.
            raise Err(PluginError_Unavailable(f"cannot {what}: {why}")) from None


class Pyrus:
    """The Pyrus API v4 as this bot uses it."""

    def __init__(self, bucket: Bucket):
        self.bucket = bucket
        saved = bucket.get(TOKEN_KEY)
        self.session = json.loads(saved) if saved else None

    def create_task(self, text: str) -> int:
        answer = self.call("tasks", {"text": text})
        return task_id_of(answer)

    def comment(self, task_id: int, text: str) -> None:
        self.call(f"tasks/{task_id}/comments", {"text": text})

    def call(self, path: str, body: dict):
        """POSTs to the API with the kept token; on a stale token, once more
        with a fresh one."""
        fresh = self.session is None
        if fresh:
            self.authenticate()
        status, answer = self.post(self.session["api_url"] + path, body, self.session["access_token"])
        if status == 401 and not fresh and error_code(answer) in STALE_TOKEN:
            host.log(Level.INFO, f"Pyrus token refused ({error_code(answer)}); authenticating again")
            self.authenticate()
            status, answer = self.post(self.session["api_url"] + path, body, self.session["access_token"])
        if not 200 <= status < 300:
            fail = PluginError_Unavailable if status >= 500 or status == 429 else PluginError_Internal
            raise Err(fail(f"Pyrus POST /{path} answered {status} {error_code(answer) or ''}".strip()))
        return answer

    def authenticate(self) -> None:
        login, key = host.get_config("login"), host.get_config("security_key")
        if not login or not key:
            raise Err(PluginError_Internal("login and security_key must be in the sidecar [config]"))
        url = host.get_config("auth_url") or DEFAULT_AUTH_URL
        status, answer = self.post(url, {"login": login, "security_key": key}, None)
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if status != 200 or not isinstance(token, str):
            raise Err(PluginError_Internal(f"Pyrus auth answered {status} {error_code(answer) or ''}".strip()))
        api_url = answer.get("api_url") or host.get_config("api_url") or DEFAULT_API_URL
        if not api_url.endswith("/"):
            api_url += "/"
        self.session = {"access_token": token, "api_url": api_url}
        self.bucket.set(TOKEN_KEY, json.dumps(self.session))

    @staticmethod
    def post(url: str, body: dict, token: str | None):
        try:
            return request_json("POST", url, body, token)
        except HttpError as e:
            # The URL has no secret in it; the body (login, key) is never logged.
            raise Err(PluginError_Unavailable(f"Pyrus at {url}: {e}")) from None


def error_code(answer) -> str | None:
    return answer.get("error_code") if isinstance(answer, dict) else None


def task_id_of(answer) -> int:
    task = answer.get("task") if isinstance(answer, dict) else None
    task_id = task.get("id") if isinstance(task, dict) else None
    if not isinstance(task_id, int):
        raise Err(PluginError_Internal("Pyrus created a task but named no task id"))
    return task_id


def describe(event: ws.Event) -> tuple[str, str]:
    """The task's title and the comment line for this event."""
    state = event.new or event.old
    title = (state.title if state else None) or f"Worksection task {event.object_id}"
    action = ACTIONS.get(type(event.action)) or event.action.value
    by = f" by {event.user.name}" if event.user and event.user.name else ""
    line = f"Worksection: {action}{by}: {title}"
    if event.new and event.new.text and not isinstance(event.action, ws.Action_Post):
        line += f"\n{event.new.text}"
    return title, line


def link(event: ws.Event) -> str:
    base = (host.get_config("worksection_url") or "").rstrip("/")
    return f"{base}{event.page}" if base else event.page


class WorksectionHandler(exports.WorksectionHandler):
    def handle(self, event: ws.Event) -> None:
        if not isinstance(event.object_kind, ws.ObjectKind_Task):
            return  # comments and projects have no Pyrus task of their own here
        if not event.object_id:
            raise Err(PluginError_Rejected("task event without an object id"))
        bucket = Bucket()
        pyrus = Pyrus(bucket)
        title, line = describe(event)
        mapping = f"task/{event.object_id}"
        saved = bucket.get(mapping)
        if saved is None:
            task_id = pyrus.create_task(f"{title}\n{link(event)}")
            # Kept before commenting: a failed comment must not create a
            # second Pyrus task when the next event comes.
            bucket.set(mapping, str(task_id))
            host.log(Level.INFO, f"Worksection task {event.object_id} is Pyrus task {task_id}")
        else:
            task_id = int(saved)
        pyrus.comment(task_id, line)
        host.log(Level.INFO, f"commented on Pyrus task {task_id}")
