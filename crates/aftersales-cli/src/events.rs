//! `aftersales events …`: append to, read and follow the log from a shell.

use std::io::Write;
use std::sync::Arc;

use aftersales_domain::streams;
use aftersales_store::{
    subscribe, AllFilter, AllFrom, AllQuery, Direction, EventMetadata, EventStore,
    ExpectedRevision, NewEvent, RecordedEvent, StoreOptions, StreamFrom, StreamName, SubscribeFrom,
    SubscriptionMessage, MAX_IMPORT_BATCH, MAX_READ_LIMIT,
};
use anyhow::{anyhow, Context};
use clap::Subcommand;
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Append one event to a stream; prints its revision and global position.
    Append {
        /// The stream, e.g. case-0193…
        stream: String,
        /// The event type, e.g. CaseRegistered.
        #[arg(long = "type")]
        event_type: String,
        /// The event's data as JSON.
        #[arg(long)]
        data: String,
        /// The event's metadata as a JSON object.
        #[arg(long)]
        metadata: Option<String>,
        /// The event id (a UUID); appending the same id again is idempotent.
        #[arg(long)]
        id: Option<Uuid>,
        /// any, no-stream, exists, or the stream's current revision.
        #[arg(long, default_value = "any")]
        expected_revision: ExpectedRevision,
    },
    /// Print the events of a stream, or of '$all'.
    Read {
        /// A stream name, or '$all' for the global log.
        stream: String,
        /// First revision (stream) or position ('$all') to print.
        #[arg(long)]
        from: Option<u64>,
        /// Read from the end towards the start.
        #[arg(long)]
        backwards: bool,
        /// Print at most this many events.
        #[arg(long)]
        limit: Option<usize>,
        /// Only events of streams in this category ('$all' only; repeatable).
        #[arg(long)]
        category: Vec<String>,
        /// Only events of this type ('$all' only; repeatable).
        #[arg(long = "type")]
        event_type: Vec<String>,
        /// Print NDJSON: one JSON object per event.
        #[arg(long)]
        json: bool,
    },
    /// Write '$all' as NDJSON, one event per line with everything the store
    /// recorded, for `events import` into another store (of either backend).
    Export {
        /// Stop at this position (default: the head when the export starts).
        #[arg(long)]
        until: Option<u64>,
    },
    /// Append an export (NDJSON from a file, or '-' for stdin) unchanged:
    /// same ids, positions, revisions, metadata and times. The store must be
    /// empty or hold an earlier part of the same log; a rerun finishes an
    /// interrupted import.
    Import {
        #[arg(default_value = "-")]
        file: String,
    },
    /// A SHA-256 digest of '$all' up to a position, equal on every copy of
    /// the same log whatever the backend.
    Checksum {
        /// Digest up to this position (default: the head).
        #[arg(long)]
        until: Option<u64>,
    },
    /// Follow '$all' live, printing events as they are committed, until interrupted.
    Tail {
        /// Start after this position (default: only new events).
        #[arg(long)]
        from: Option<u64>,
        #[arg(long)]
        category: Vec<String>,
        #[arg(long = "type")]
        event_type: Vec<String>,
        /// Print NDJSON: one JSON object per event.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(db: &str, options: StoreOptions, command: EventsCommand) -> anyhow::Result<()> {
    let store = aftersales_store::open(db, options)
        .await
        .with_context(|| format!("opening the store at {}", aftersales_store::redact(db)))?;
    match command {
        EventsCommand::Append {
            stream,
            event_type,
            data,
            metadata,
            id,
            expected_revision,
        } => {
            let stream = StreamName::new(stream)?;
            refuse_owned(&stream)?;
            let data: Value = serde_json::from_str(&data).context("--data is not valid JSON")?;
            let metadata: Value = match metadata {
                Some(text) => {
                    serde_json::from_str(&text).context("--metadata is not valid JSON")?
                }
                None => Value::Object(Default::default()),
            };
            let mut event = NewEvent::new(event_type, data).with_metadata(metadata);
            if let Some(id) = id {
                event = event.with_id(id);
            }
            let result = store
                .append(&stream, expected_revision, vec![event])
                .await?;
            println!(
                "revision={} position={}",
                result.next_expected_revision, result.position
            );
            Ok(())
        }
        EventsCommand::Read {
            stream,
            from,
            backwards,
            limit,
            category,
            event_type,
            json,
        } => {
            let direction = if backwards {
                Direction::Backwards
            } else {
                Direction::Forwards
            };
            let filter = AllFilter {
                categories: category,
                event_types: event_type,
            };
            let mut out = Printer::new(json, false);
            if stream == "$all" {
                read_all(&*store, from, direction, limit, filter, &mut out).await
            } else {
                if !filter.is_empty() {
                    return Err(anyhow!("--category and --type filter '$all' only"));
                }
                read_stream(
                    &*store,
                    &StreamName::new(stream)?,
                    from,
                    direction,
                    limit,
                    &mut out,
                )
                .await
            }
        }
        EventsCommand::Export { until } => {
            let until = match until {
                Some(until) => until,
                None => store.head().await?,
            };
            let mut out = Printer::new(true, false);
            for_each_event(&*store, until, |event| out.print(event)).await
        }
        EventsCommand::Import { file } => import(&*store, &file).await,
        EventsCommand::Checksum { until } => {
            let until = match until {
                Some(until) => until,
                None => store.head().await?,
            };
            let mut digest = LogDigest::default();
            for_each_event(&*store, until, |event| digest.add(event)).await?;
            println!("{}", digest.finish());
            Ok(())
        }
        EventsCommand::Tail {
            from,
            category,
            event_type,
            json,
        } => {
            let filter = AllFilter {
                categories: category,
                event_types: event_type,
            };
            tail(store, from, filter, &mut Printer::new(json, true)).await
        }
    }
}

async fn read_stream(
    store: &dyn EventStore,
    stream: &StreamName,
    from: Option<u64>,
    direction: Direction,
    limit: Option<usize>,
    out: &mut Printer,
) -> anyhow::Result<()> {
    let mut from = match (from, direction) {
        (Some(revision), _) => StreamFrom::Revision(revision),
        (None, Direction::Forwards) => StreamFrom::Start,
        (None, Direction::Backwards) => StreamFrom::End,
    };
    let mut left = limit.unwrap_or(usize::MAX);
    while left > 0 {
        let page = store
            .read_stream(stream, from, direction, left.min(MAX_READ_LIMIT))
            .await?;
        let Some(last) = page.last().map(|e| e.revision) else {
            break;
        };
        left -= page.len();
        for event in &page {
            out.print(event)?;
        }
        from = match direction {
            Direction::Forwards => StreamFrom::Revision(last + 1),
            Direction::Backwards if last == 0 => break,
            Direction::Backwards => StreamFrom::Revision(last - 1),
        };
    }
    Ok(())
}

async fn read_all(
    store: &dyn EventStore,
    from: Option<u64>,
    direction: Direction,
    limit: Option<usize>,
    filter: AllFilter,
    out: &mut Printer,
) -> anyhow::Result<()> {
    let mut query = AllQuery {
        from: match (from, direction) {
            (Some(position), _) => AllFrom::Position(position),
            (None, Direction::Forwards) => AllFrom::Start,
            (None, Direction::Backwards) => AllFrom::End,
        },
        direction,
        limit: 0,
        filter,
    };
    let mut left = limit.unwrap_or(usize::MAX);
    while left > 0 {
        query.limit = left.min(MAX_READ_LIMIT);
        let page = store.read_all(&query).await?;
        left -= page.events.len();
        for event in &page.events {
            out.print(event)?;
        }
        if page.is_end {
            break;
        }
        query.from = AllFrom::Position(match direction {
            Direction::Forwards => page.scanned_to + 1,
            Direction::Backwards => page.scanned_to.saturating_sub(1),
        });
    }
    Ok(())
}

/// Calls `visit` on each event of `$all` up to position `until`, in order.
async fn for_each_event(
    store: &dyn EventStore,
    until: u64,
    mut visit: impl FnMut(&RecordedEvent) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut query = AllQuery::forwards(1, MAX_READ_LIMIT);
    loop {
        let page = store.read_all(&query).await?;
        for event in page.events.iter().take_while(|e| e.position <= until) {
            visit(event)?;
        }
        if page.is_end || page.scanned_to >= until {
            return Ok(());
        }
        query.from = AllFrom::Position(page.scanned_to + 1);
    }
}

/// An append by hand into a stream whose events only the product writes.
#[derive(Debug, thiserror::Error)]
#[error(
    "refused (rule: owned-stream): streams of the `{category}` category are written only \
     through the product's commands (the JSON API), which check the domain's rules and record \
     who acted; nothing was appended to {stream}"
)]
pub struct OwnedStream {
    pub stream: String,
    pub category: String,
}

fn refuse_owned(stream: &StreamName) -> Result<(), OwnedStream> {
    let category = stream.category();
    if streams::is_owned(category) {
        return Err(OwnedStream {
            stream: stream.as_str().to_owned(),
            category: category.to_owned(),
        });
    }
    Ok(())
}

/// An import whose input does not hold a log the product could have written.
#[derive(Debug, thiserror::Error)]
#[error("import refused, nothing appended: line {line}: {reason}")]
pub struct ImportRefused {
    pub line: usize,
    pub reason: String,
}

/// One exported event, checked: it parses, and an event of an owned
/// stream reads as the domain's event with an actor and a role.
fn parse_exported(number: usize, line: &str) -> Result<RecordedEvent, ImportRefused> {
    let refused = |reason: String| ImportRefused {
        line: number,
        reason,
    };
    let event: RecordedEvent =
        serde_json::from_str(line).map_err(|e| refused(format!("not an exported event: {e}")))?;
    let metadata: EventMetadata = serde_json::from_str(event.metadata.get())
        .map_err(|e| refused(format!("metadata: {e}")))?;
    streams::check_stored(
        event.stream.as_str(),
        &event.event_type,
        event.data.get(),
        metadata.actor_id.as_deref(),
        metadata.actor_role.as_deref(),
    )
    .map_err(|e| {
        refused(format!(
            "{} at position {} ({}): {e}",
            event.stream, event.position, event.event_type
        ))
    })?;
    Ok(event)
}

/// Opens the export to import, reading standard input into a temporary
/// file first: the import reads its input twice, once to check every line
/// and once to append.
fn open_export(file: &str) -> anyhow::Result<std::fs::File> {
    if file != "-" {
        return std::fs::File::open(file).with_context(|| format!("opening {file}"));
    }
    let mut spool = tempfile::tempfile().context("a temporary file for standard input")?;
    std::io::copy(&mut std::io::stdin().lock(), &mut spool).context("reading standard input")?;
    std::io::Seek::rewind(&mut spool)?;
    Ok(spool)
}

async fn import(store: &dyn EventStore, file: &str) -> anyhow::Result<()> {
    use std::io::{BufRead, BufReader, Seek};
    let mut input = open_export(file)?;
    for (number, line) in BufReader::new(&input).lines().enumerate() {
        let line = line.with_context(|| format!("reading {file}"))?;
        if !line.trim().is_empty() {
            parse_exported(number + 1, &line)?;
        }
    }
    input.rewind()?;
    let input = BufReader::new(input);
    let mut head = store.head().await?;
    let mut read = 0u64;
    // Each batch is one transaction: a failure keeps what earlier batches
    // imported, and running the import again skips it.
    let stopped = |head: u64| {
        format!("the log's head is position {head}; a rerun skips what is already imported")
    };
    let mut batch = Vec::with_capacity(MAX_IMPORT_BATCH);
    for (number, line) in input.lines().enumerate() {
        let line = line.with_context(|| format!("reading {file}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let event = parse_exported(number + 1, &line).with_context(|| stopped(head))?;
        batch.push(event);
        read += 1;
        if batch.len() == MAX_IMPORT_BATCH {
            head = store.import(&batch).await.with_context(|| stopped(head))?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        head = store.import(&batch).await.with_context(|| stopped(head))?;
    }
    println!("read {read} events; the log's head is now position {head}");
    Ok(())
}

/// SHA-256 over each event's fields, with data and metadata in one
/// canonical JSON spelling (keys sorted): PostgreSQL stores JSON
/// normalised, SQLite as it was sent, and the digest must not see that.
#[derive(Default)]
struct LogDigest {
    hasher: sha2::Sha256,
    events: u64,
    last: u64,
}

impl LogDigest {
    fn add(&mut self, event: &RecordedEvent) -> anyhow::Result<()> {
        use sha2::Digest;
        let canonical = |raw: &serde_json::value::RawValue| -> anyhow::Result<String> {
            Ok(serde_json::from_str::<Value>(raw.get())?.to_string())
        };
        let line = serde_json::json!([
            event.position,
            event.stream,
            event.revision,
            event.id,
            event.event_type,
            canonical(&event.data)?,
            canonical(&event.metadata)?,
            event.recorded_at.timestamp_micros(),
        ]);
        self.hasher.update(line.to_string().as_bytes());
        self.hasher.update(b"\n");
        self.events += 1;
        self.last = event.position;
        Ok(())
    }

    fn finish(self) -> String {
        use sha2::Digest;
        let digest: String = self
            .hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!(
            "events={} position={} sha256={digest}",
            self.events, self.last
        )
    }
}

async fn tail(
    store: Arc<dyn EventStore>,
    from: Option<u64>,
    filter: AllFilter,
    out: &mut Printer,
) -> anyhow::Result<()> {
    let from = from.map_or(SubscribeFrom::End, SubscribeFrom::After);
    let mut subscription = subscribe(store, from, filter);
    loop {
        tokio::select! {
            message = subscription.next() => match message {
                Some(Ok(SubscriptionMessage::Event(event))) => out.print(&event)?,
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error.into()),
                None => return Ok(()),
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// Prints events as NDJSON or as one readable line each.
struct Printer {
    json: bool,
    /// Following the log live: every line reaches a pipe at once.
    live: bool,
    out: std::io::BufWriter<std::io::Stdout>,
}

impl Drop for Printer {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

impl Printer {
    fn new(json: bool, live: bool) -> Self {
        Self {
            json,
            live,
            out: std::io::BufWriter::new(std::io::stdout()),
        }
    }

    fn print(&mut self, event: &RecordedEvent) -> anyhow::Result<()> {
        if self.json {
            serde_json::to_writer(&mut self.out, event)?;
            writeln!(self.out)?;
        } else {
            writeln!(
                self.out,
                "{:>8}  {}@{}  {}  {}  {}",
                event.position,
                event.stream,
                event.revision,
                event.event_type,
                event
                    .recorded_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                event.data
            )?;
        }
        if self.live {
            self.out.flush()?;
        }
        Ok(())
    }
}
