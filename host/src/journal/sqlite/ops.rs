//! The writes, as blocking SQLite calls run by the writer thread inside its
//! batch transaction. Each is one statement or a few; none commits.

use rusqlite::{Connection, OptionalExtension, params};

use crate::journal::{
    Attempt, DeliveryId, DeliveryState, JournalError, NewDelivery, Outcome, SeenAnswer, UnixMs,
};

pub fn append(conn: &Connection, id: &str, delivery: &NewDelivery) -> Result<(), JournalError> {
    // Due at once: next_at is when it arrived.
    conn.prepare_cached(
        "INSERT INTO deliveries (id, plugin, kind, received_at, payload, meta, state, next_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7)",
    )?
    .execute(params![
        id,
        delivery.plugin,
        delivery.kind,
        delivery.received_at,
        delivery.payload,
        delivery.meta,
        delivery.received_at,
    ])?;
    Ok(())
}

pub fn record_attempt(
    conn: &Connection,
    id: &str,
    attempt: &Attempt,
    outcome: Outcome,
) -> Result<(), JournalError> {
    let seq: i64 = conn
        .prepare_cached("SELECT seq FROM deliveries WHERE id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()?
        .ok_or_else(|| JournalError::NotFound(id.to_string()))?;
    let (state, next_at) = match outcome {
        Outcome::Progress(progress) => {
            conn.prepare_cached("UPDATE deliveries SET progress = ?2 WHERE seq = ?1")?
                .execute(params![seq, progress])?;
            return Ok(());
        }
        Outcome::Done => (DeliveryState::Done, None),
        Outcome::Dead => (DeliveryState::Dead, None),
        Outcome::Retry { at_ms } => (DeliveryState::Retrying, Some(at_ms)),
    };
    conn.prepare_cached(
        "INSERT INTO attempts (delivery, started_at, ended_at, error) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        seq,
        attempt.started_at,
        attempt.ended_at,
        attempt.error
    ])?;
    // A finished delivery keeps the next_at it had; finished_at dates it.
    conn.prepare_cached(
        "UPDATE deliveries SET
             state = ?2,
             attempts = attempts + 1,
             next_at = COALESCE(?3, next_at),
             finished_at = CASE WHEN ?3 IS NULL THEN ?4 END
         WHERE seq = ?1",
    )?
    .execute(params![seq, state.as_str(), next_at, attempt.ended_at])?;
    Ok(())
}

/// The attempt counter starts again, so a replayed delivery gets a whole
/// retry schedule; the rows in `attempts` stay for the operator.
const REPLAY: &str = "
    state = 'pending',
    next_at = ?1,
    attempts = 0,
    progress = CASE WHEN state = 'done' THEN 0 ELSE progress END,
    finished_at = NULL";

pub fn replay(conn: &Connection, ids: &[DeliveryId], now: UnixMs) -> Result<u64, JournalError> {
    let mut stmt = conn.prepare_cached(&format!("UPDATE deliveries SET {REPLAY} WHERE id = ?2"))?;
    let mut changed = 0;
    for id in ids {
        changed += stmt.execute(params![now, id])?;
    }
    Ok(changed as u64)
}

pub fn replay_dead(
    conn: &Connection,
    plugin: &str,
    since_ms: Option<UnixMs>,
    now: UnixMs,
) -> Result<u64, JournalError> {
    let changed = conn
        .prepare_cached(&format!(
            "UPDATE deliveries SET {REPLAY}
             WHERE plugin = ?2 AND state = 'dead' AND received_at >= ?3"
        ))?
        .execute(params![now, plugin, since_ms.unwrap_or(i64::MIN)])?;
    Ok(changed as u64)
}

pub fn purge_done(conn: &Connection, older_than_ms: UnixMs) -> Result<u64, JournalError> {
    conn.prepare_cached(
        "DELETE FROM attempts WHERE delivery IN
             (SELECT seq FROM deliveries WHERE state = 'done' AND finished_at < ?1)",
    )?
    .execute([older_than_ms])?;
    let deleted = conn
        .prepare_cached("DELETE FROM deliveries WHERE state = 'done' AND finished_at < ?1")?
        .execute([older_than_ms])?;
    Ok(deleted as u64)
}

pub fn remember(
    conn: &Connection,
    plugin: &str,
    key: &str,
    answer: &SeenAnswer,
    expires_at: UnixMs,
) -> Result<(), JournalError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO seen (plugin, key, status, content_type, body, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        plugin,
        key,
        answer.status,
        answer.content_type,
        answer.body,
        expires_at
    ])?;
    Ok(())
}

pub fn forget_expired(conn: &Connection, now: UnixMs) -> Result<u64, JournalError> {
    let deleted = conn
        .prepare_cached("DELETE FROM seen WHERE expires_at < ?1")?
        .execute([now])?;
    Ok(deleted as u64)
}
