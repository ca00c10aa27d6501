//! The Pyrus help center's sample bot as a hookhost plugin: it answers every
//! event with `Hello, {user_name}! You said "{comment_text}".`, where the
//! name and text are those of the task's last comment.

wit_bindgen::generate!({
    world: "pyrus-bot",
    path: "../../wit",
});

use exports::hookhost::plugin::pyrus_bot_handler::{BotEvent, Comment, Guest};
use hookhost::plugin::host::{self, Level};
use hookhost::plugin::types::PluginError;

struct EchoBot;

impl Guest for EchoBot {
    fn handle(event: BotEvent) -> Result<Option<Comment>, PluginError> {
        let Some(last) = event.task.comments.last() else {
            host::log(
                Level::Info,
                &format!("task {} has no comments; nothing to echo", event.task_id),
            );
            return Ok(None);
        };
        let user_name = match &last.author {
            Some(author) => format!("{} {}", author.first_name, author.last_name),
            None => String::from("there"),
        };
        let user_name = user_name.trim();
        host::log(Level::Info, &format!("answering task {}", event.task_id));
        Ok(Some(Comment {
            text: Some(format!("Hello, {user_name}! You said \"{}\".", last.text)),
            ..empty_comment()
        }))
    }
}

/// A comment with nothing set; the host leaves unset fields out of the JSON.
fn empty_comment() -> Comment {
    Comment {
        text: None,
        formatted_text: None,
        approval_choice: None,
        action: None,
        reassign_to: None,
        participants_added: Vec::new(),
        participants_removed: Vec::new(),
        subscribers_added: Vec::new(),
        subscribers_removed: Vec::new(),
        approvals_added: Vec::new(),
        approvals_removed: Vec::new(),
        field_updates: Vec::new(),
        due_date: None,
        due: None,
        duration: None,
        spent_minutes: None,
        attachments: Vec::new(),
    }
}

export!(EchoBot);
