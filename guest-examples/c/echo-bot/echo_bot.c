// The Pyrus help center's sample bot as a hookhost plugin, in C.
//
// It answers every event with `Hello, {user_name}! You said "{comment_text}".`,
// where the name and text are those of the task's last comment: the same
// answer as the Rust `guest-examples/echo-bot`.
//
// `pyrus_bot.h` and `pyrus_bot.c` are generated from wit/ by
// `wit-bindgen c` at build time (see ../README.md).

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyrus_bot.h"

// Logs a NUL-terminated message through the host's `log` import.
static void log_line(hookhost_plugin_host_level_t level, const char *message) {
  pyrus_bot_string_t text;
  pyrus_bot_string_set(&text, message);  // borrowed: the host copies it
  hookhost_plugin_host_log(level, &text);
}

// Formats into a new malloc'd component-model string; false when out of memory.
__attribute__((format(printf, 2, 3)))
static bool format_string(pyrus_bot_string_t *out, const char *format, ...) {
  va_list args;
  va_start(args, format);
  int len = vsnprintf(NULL, 0, format, args);
  va_end(args);
  if (len < 0) return false;
  char *buf = malloc((size_t)len + 1);
  if (buf == NULL) return false;
  va_start(args, format);
  vsnprintf(buf, (size_t)len + 1, format, args);
  va_end(args);
  out->ptr = (uint8_t *)buf;
  out->len = (size_t)len;
  return true;
}

// Sets `err` to `internal(message)`: the host answers 500.
static bool internal_error(exports_hookhost_plugin_pyrus_bot_handler_plugin_error_t *err,
                           const char *message) {
  err->tag = HOOKHOST_PLUGIN_TYPES_PLUGIN_ERROR_INTERNAL;
  pyrus_bot_string_dup(&err->val.internal, message);
  return false;
}

// The export. Returns true with `ret` set for `ok`, false with `err` set for
// `err`. The event is ours to free; what we put in `ret`/`err` must be
// malloc'd, since the generated post-return code frees it.
bool exports_hookhost_plugin_pyrus_bot_handler_handle(
    exports_hookhost_plugin_pyrus_bot_handler_bot_event_t *event,
    exports_hookhost_plugin_pyrus_bot_handler_option_comment_t *ret,
    exports_hookhost_plugin_pyrus_bot_handler_plugin_error_t *err) {
  // Everything unset: `none` options, empty lists.
  memset(ret, 0, sizeof *ret);
  char line[96];
  hookhost_plugin_pyrus_types_list_task_comment_t *comments = &event->task.comments;
  if (comments->len == 0) {
    snprintf(line, sizeof line, "task %lld has no comments; nothing to echo",
             (long long)event->task_id);
    log_line(HOOKHOST_PLUGIN_TYPES_LEVEL_INFO, line);
    exports_hookhost_plugin_pyrus_bot_handler_bot_event_free(event);
    return true;  // ok(none): the host answers 200 with an empty body
  }
  hookhost_plugin_pyrus_types_task_comment_t *last = &comments->ptr[comments->len - 1];

  pyrus_bot_string_t name;
  bool named;
  if (last->author.is_some) {
    hookhost_plugin_pyrus_types_person_t *a = &last->author.val;
    named = format_string(&name, "%.*s %.*s", (int)a->first_name.len,
                          (const char *)a->first_name.ptr, (int)a->last_name.len,
                          (const char *)a->last_name.ptr);
  } else {
    named = format_string(&name, "there");
  }
  if (!named) {
    exports_hookhost_plugin_pyrus_bot_handler_bot_event_free(event);
    return internal_error(err, "out of memory");
  }
  // Trimmed like the Rust bot, so a missing first or last name leaves no
  // stray space.
  size_t start = 0, end = name.len;
  while (start < end && isspace(name.ptr[start])) start++;
  while (end > start && isspace(name.ptr[end - 1])) end--;

  snprintf(line, sizeof line, "answering task %lld", (long long)event->task_id);
  log_line(HOOKHOST_PLUGIN_TYPES_LEVEL_INFO, line);

  ret->is_some = true;
  ret->val.text.is_some = format_string(
      &ret->val.text.val, "Hello, %.*s! You said \"%.*s\".", (int)(end - start),
      (const char *)name.ptr + start, (int)last->text.len, (const char *)last->text.ptr);
  pyrus_bot_string_free(&name);
  exports_hookhost_plugin_pyrus_bot_handler_bot_event_free(event);
  if (!ret->val.text.is_some) {
    ret->is_some = false;
    return internal_error(err, "out of memory");
  }
  return true;
}
