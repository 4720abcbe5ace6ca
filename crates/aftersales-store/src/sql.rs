//! SQL shared by both backends: the shape of reads of `$all` and of a
//! stream. Only the placeholders differ, and `QueryBuilder` writes those.

use sqlx::{Database, Encode, QueryBuilder, Type};

use crate::types::{AllFrom, AllQuery, Direction, Position, Revision, StreamFrom};

pub(crate) const EVENT_COLUMNS: &str =
    "position, event_id, stream_name, revision, event_type, data, metadata, recorded_at";

/// The range of positions a read of `$all` covers, given the head at the time
/// of the read. `None` when it covers nothing.
pub(crate) fn all_range(query: &AllQuery, head: Position) -> Option<(Position, Position)> {
    match query.direction {
        Direction::Forwards => {
            let from = match query.from {
                AllFrom::Start => 1,
                AllFrom::End => head + 1,
                AllFrom::Position(p) => p.max(1),
            };
            (from <= head).then_some((from, head))
        }
        Direction::Backwards => {
            let from = match query.from {
                AllFrom::Start => 0,
                AllFrom::End => head,
                AllFrom::Position(p) => p.min(head),
            };
            (from >= 1).then_some((1, from))
        }
    }
}

/// `SELECT … FROM events` for a page of `$all` within `range`.
pub(crate) fn select_all<'a, DB>(
    query: &'a AllQuery,
    range: (Position, Position),
) -> QueryBuilder<'a, DB>
where
    DB: Database,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
{
    let mut sql = QueryBuilder::new(format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE position >= "
    ));
    sql.push_bind(to_i64(range.0));
    sql.push(" AND position <= ");
    sql.push_bind(to_i64(range.1));
    push_in(&mut sql, "category", &query.filter.categories);
    push_in(&mut sql, "event_type", &query.filter.event_types);
    sql.push(match query.direction {
        Direction::Forwards => " ORDER BY position ASC LIMIT ",
        Direction::Backwards => " ORDER BY position DESC LIMIT ",
    });
    sql.push_bind(to_i64(query.limit as u64));
    sql
}

fn push_in<'a, DB>(sql: &mut QueryBuilder<'a, DB>, column: &str, values: &'a [String])
where
    DB: Database,
    String: for<'q> Encode<'q, DB> + Type<DB>,
{
    if values.is_empty() {
        return;
    }
    sql.push(format_args!(" AND {column} IN ("));
    let mut list = sql.separated(", ");
    for value in values {
        list.push_bind(value.clone());
    }
    sql.push(")");
}

/// `SELECT … FROM events` for a page of one stream.
pub(crate) fn select_stream<'a, DB>(
    stream: &'a str,
    from: StreamFrom,
    direction: Direction,
    limit: usize,
) -> Option<QueryBuilder<'a, DB>>
where
    DB: Database,
    i64: for<'q> Encode<'q, DB> + Type<DB>,
    String: for<'q> Encode<'q, DB> + Type<DB>,
{
    let (op, order, revision): (&str, &str, Option<Revision>) = match (direction, from) {
        (Direction::Forwards, StreamFrom::Start) => (">=", "ASC", Some(0)),
        (Direction::Forwards, StreamFrom::Revision(r)) => (">=", "ASC", Some(r)),
        (Direction::Forwards, StreamFrom::End) => return None,
        (Direction::Backwards, StreamFrom::End) => ("<=", "DESC", None),
        (Direction::Backwards, StreamFrom::Revision(r)) => ("<=", "DESC", Some(r)),
        (Direction::Backwards, StreamFrom::Start) => ("<=", "DESC", Some(0)),
    };
    let mut sql = QueryBuilder::new(format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE stream_name = "
    ));
    sql.push_bind(stream.to_owned());
    if let Some(revision) = revision {
        sql.push(format_args!(" AND revision {op} "));
        sql.push_bind(to_i64(revision));
    }
    sql.push(format_args!(" ORDER BY revision {order} LIMIT "));
    sql.push_bind(to_i64(limit as u64));
    Some(sql)
}

/// One row of the `events` table, as both backends insert it: from a
/// planned append or from an imported event.
#[derive(Debug)]
pub(crate) struct InsertRow<'a> {
    pub position: crate::types::Position,
    pub id: uuid::Uuid,
    pub stream: &'a str,
    pub revision: crate::types::Revision,
    pub category: &'a str,
    pub event_type: &'a str,
    pub data: &'a str,
    pub metadata: &'a str,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
}

impl<'a> InsertRow<'a> {
    pub fn planned(row: &crate::plan::Row<'a>, recorded_at: chrono::DateTime<chrono::Utc>) -> Self {
        Self {
            position: row.position,
            id: row.event.id,
            stream: row.stream,
            revision: row.revision,
            category: row.category,
            event_type: &row.event.event_type,
            data: row.event.data.get(),
            metadata: row.event.metadata.get(),
            recorded_at,
        }
    }

    pub fn imported(event: &'a crate::types::RecordedEvent) -> Self {
        Self {
            position: event.position,
            id: event.id,
            stream: &event.stream,
            revision: event.revision,
            category: crate::types::category_of(&event.stream),
            event_type: &event.event_type,
            data: event.data.get(),
            metadata: event.metadata.get(),
            recorded_at: event.recorded_at,
        }
    }
}

/// Positions and revisions are stored as signed 64-bit integers; values past
/// `i64::MAX` cannot exist in the log, so they read as "beyond everything".
pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The page of `$all` a query result makes, given the range it covered.
pub(crate) fn all_page(
    query: &AllQuery,
    head: Position,
    range: Option<(Position, Position)>,
    events: Vec<crate::types::RecordedEvent>,
) -> crate::types::AllPage {
    let full = query.limit > 0 && events.len() == query.limit;
    let (scanned_to, is_end) = match (query.direction, range) {
        (Direction::Forwards, None) => match query.from {
            AllFrom::Position(p) => (p.saturating_sub(1).max(head), true),
            AllFrom::Start | AllFrom::End => (head, true),
        },
        (Direction::Backwards, None) => (0, true),
        (Direction::Forwards, Some((from, head))) => match events.last() {
            _ if query.limit == 0 => (from - 1, false),
            Some(last) if full => (last.position, last.position == head),
            _ => (head, true),
        },
        (Direction::Backwards, Some((_, from))) => match events.last() {
            _ if query.limit == 0 => (from + 1, false),
            Some(last) if full => (last.position, last.position == 1),
            _ => (0, true),
        },
    };
    crate::types::AllPage {
        events,
        scanned_to,
        is_end,
    }
}
