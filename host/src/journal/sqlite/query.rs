//! The reads, as blocking SQLite calls on a reader connection.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::journal::{
    Attempt, Delivery, DeliveryDetail, Depth, Filter, JournalError, SeenAnswer, UnixMs,
};

/// The columns [`delivery`] reads, in its order.
const COLUMNS: &str = "id, seq, plugin, kind, received_at, payload, meta, state, attempts, \
                       next_at, progress";

const LIVE: &str = "state IN ('pending', 'retrying')";

fn delivery(row: &Row<'_>) -> rusqlite::Result<Delivery> {
    let state: String = row.get(7)?;
    let state = state.parse().map_err(|e: JournalError| {
        rusqlite::Error::FromSqlConversionFailure(7, rusqlite::types::Type::Text, e.into())
    })?;
    Ok(Delivery {
        id: row.get(0)?,
        seq: row.get(1)?,
        plugin: row.get(2)?,
        kind: row.get(3)?,
        received_at: row.get(4)?,
        payload: row.get(5)?,
        meta: row.get(6)?,
        state,
        attempts: row.get(8)?,
        next_at: row.get(9)?,
        progress: row.get(10)?,
    })
}

/// In `seq` order by index, so a backlog is read `limit` rows at a time.
/// Left to itself, SQLite picks `live_by_time` for the `next_at` range and
/// then sorts every due row: a backlog of n costs n per call, n² to drain.
pub(super) fn due_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM deliveries INDEXED BY live_by_seq
         WHERE plugin = ?1 AND {LIVE} AND next_at <= ?2 ORDER BY seq LIMIT ?3"
    )
}

pub(super) fn next_due_sql() -> String {
    format!("SELECT MIN(next_at) FROM deliveries WHERE plugin = ?1 AND {LIVE}")
}

pub fn due(
    conn: &Connection,
    plugin: &str,
    now_ms: UnixMs,
    limit: u32,
) -> Result<Vec<Delivery>, JournalError> {
    let mut stmt = conn.prepare_cached(&due_sql())?;
    let rows = stmt.query_map(params![plugin, now_ms, limit], delivery)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn next_due(conn: &Connection, plugin: &str) -> Result<Option<UnixMs>, JournalError> {
    Ok(conn
        .prepare_cached(&next_due_sql())?
        .query_row([plugin], |row| row.get(0))?)
}

pub fn plugins_with_work(conn: &Connection) -> Result<Vec<String>, JournalError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT DISTINCT plugin FROM deliveries WHERE {LIVE} ORDER BY plugin"
    ))?;
    let rows = stmt.query_map([], |row| row.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn depth(conn: &Connection) -> Result<Depth, JournalError> {
    let mut stmt = conn.prepare_cached(
        "SELECT state, COUNT(*) FROM deliveries
         WHERE state IN ('pending', 'retrying', 'dead') GROUP BY state",
    )?;
    let mut depth = Depth::default();
    let rows = stmt.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (state, n) = row?;
        let n = u64::try_from(n).unwrap_or(0);
        match state.as_str() {
            "pending" => depth.pending = n,
            "retrying" => depth.retrying = n,
            _ => depth.dead = n,
        }
    }
    Ok(depth)
}

pub fn list(conn: &Connection, filter: &Filter) -> Result<Vec<Delivery>, JournalError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM deliveries
         WHERE (?1 IS NULL OR plugin = ?1) AND (?2 IS NULL OR state = ?2)
           AND received_at >= ?3
         ORDER BY seq DESC LIMIT ?4"
    ))?;
    let rows = stmt.query_map(
        params![
            filter.plugin,
            filter.state.map(|s| s.as_str()),
            filter.since_ms.unwrap_or(i64::MIN),
            filter.limit
        ],
        delivery,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn show(conn: &mut Connection, id: &str) -> Result<Option<DeliveryDetail>, JournalError> {
    // One snapshot: the attempts belong to the delivery row read.
    let tx = conn.transaction()?;
    let found = tx
        .prepare_cached(&format!("SELECT {COLUMNS} FROM deliveries WHERE id = ?1"))?
        .query_row([id], delivery)
        .optional()?;
    let Some(delivery) = found else {
        return Ok(None);
    };
    let attempts = tx
        .prepare_cached(
            "SELECT started_at, ended_at, error FROM attempts
             WHERE delivery = ?1 ORDER BY id",
        )?
        .query_map([delivery.seq], |row| {
            Ok(Attempt {
                started_at: row.get(0)?,
                ended_at: row.get(1)?,
                error: row.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    tx.commit()?;
    Ok(Some(DeliveryDetail { delivery, attempts }))
}

pub fn size_bytes(conn: &Connection) -> Result<u64, JournalError> {
    let bytes: i64 = conn.query_row(
        "SELECT (page_count - freelist_count) * page_size
         FROM pragma_page_count, pragma_freelist_count, pragma_page_size",
        [],
        |row| row.get(0),
    )?;
    Ok(u64::try_from(bytes).unwrap_or(0))
}

pub fn recall(
    conn: &Connection,
    plugin: &str,
    key: &str,
    now: UnixMs,
) -> Result<Option<SeenAnswer>, JournalError> {
    Ok(conn
        .prepare_cached(
            "SELECT status, content_type, body FROM seen
             WHERE plugin = ?1 AND key = ?2 AND expires_at >= ?3",
        )?
        .query_row(params![plugin, key, now], |row| {
            Ok(SeenAnswer {
                status: row.get(0)?,
                content_type: row.get(1)?,
                body: row.get(2)?,
            })
        })
        .optional()?)
}
