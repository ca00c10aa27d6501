// The Pyrus help center's sample bot as a hookhost plugin, in JavaScript.
//
// It answers every event with `Hello, {user_name}! You said "{comment_text}".`,
// where the name and text are those of the task's last comment: the same
// answer as the Rust `guest-examples/echo-bot`.

// Host imports are ES imports of the interface's full WIT name.
import { log } from 'hookhost:plugin/host@0.1.0';

// The world's export `pyrus-bot-handler` is this module's `pyrusBotHandler`.
export const pyrusBotHandler = {
  // Returning a value is `ok`; `undefined` is `none`. Throwing is `err`.
  handle(event) {
    const comments = event.task.comments;
    if (comments.length === 0) {
      log('info', `task ${event.taskId} has no comments; nothing to echo`);
      return undefined;
    }
    const last = comments[comments.length - 1];
    const userName = last.author
      ? `${last.author.firstName} ${last.author.lastName}`.trim()
      : 'there';
    log('info', `answering task ${event.taskId}`);
    return { ...emptyComment(), text: `Hello, ${userName}! You said "${last.text}".` };
  },
};

// A comment with nothing set; the host leaves unset fields out of the JSON.
function emptyComment() {
  return {
    text: undefined,
    formattedText: undefined,
    approvalChoice: undefined,
    action: undefined,
    reassignTo: undefined,
    participantsAdded: [],
    participantsRemoved: [],
    subscribersAdded: [],
    subscribersRemoved: [],
    approvalsAdded: [],
    approvalsRemoved: [],
    fieldUpdates: [],
    dueDate: undefined,
    due: undefined,
    duration: undefined,
    spentMinutes: undefined,
    attachments: [],
  };
}
