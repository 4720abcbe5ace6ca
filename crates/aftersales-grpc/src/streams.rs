//! The `Streams` service: appends and reads, one stream or `$all`, and
//! catch-up subscriptions.
//!
//! Positions: the store has one global position per event; it is answered
//! as both the commit and the prepare position, and a client's position is
//! read back from the commit position.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use aftersales_store::{
    subscribe, AllFilter, AllFrom, AllQuery, CurrentRevision, Direction, EventStore,
    ExpectedRevision, NewEvent, Position, RecordedEvent, StoreError, StreamFrom, StreamName,
    SubscribeFrom, SubscriptionMessage,
};
use futures::Stream;
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::access::{Access, Operation};
use crate::convert::{self, Proposed, UuidFormat};
use crate::filter::EventFilter;
use crate::proto::event_store::client as shared;
use crate::proto::event_store::client::streams::{
    append_req, append_resp, batch_append_req, batch_append_resp, read_req, read_resp,
    streams_server::{Streams, StreamsServer},
    AppendReq, AppendResp, BatchAppendReq, BatchAppendResp, DeleteReq, DeleteResp, ReadReq,
    ReadResp, TombstoneReq, TombstoneResp,
};
use crate::proto::google::rpc;
use crate::Limits;

/// Events per store read while serving a read or a catch-up.
const PAGE: usize = 500;
/// Responses buffered per call before the reader waits for the client.
const BUFFER: usize = 256;
/// Batches one BatchAppend call may hold open at once: each may grow to the
/// append size limit before its final message.
const MAX_OPEN_BATCHES: usize = 64;

pub fn server(
    store: Arc<dyn EventStore>,
    limits: Limits,
    access: Access,
) -> StreamsServer<StreamsService> {
    StreamsServer::new(StreamsService {
        store,
        limits,
        access: Arc::new(access),
    })
}

#[derive(Debug)]
pub struct StreamsService {
    store: Arc<dyn EventStore>,
    limits: Limits,
    access: Arc<Access>,
}

type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl Streams for StreamsService {
    type ReadStream = ResponseStream<ReadResp>;
    type BatchAppendStream = ResponseStream<BatchAppendResp>;

    async fn read(&self, request: Request<ReadReq>) -> Result<Response<Self::ReadStream>, Status> {
        self.access
            .require(request.metadata(), Operation::Read)
            .await?;
        let metadata = request.metadata().clone();
        let options = request
            .into_inner()
            .options
            .ok_or_else(|| Status::invalid_argument("a read needs options"))?;
        let read = Read::new(options)?;
        let (sender, receiver) = mpsc::channel(BUFFER);
        let store = self.store.clone();
        let reading = {
            let sender = sender.clone();
            tokio::spawn(async move {
                if let Err(status) = read.run(store, &sender).await {
                    let _ = sender.send(Err(status)).await;
                }
            })
        };
        tokio::spawn(watch_key(
            self.access.clone(),
            metadata,
            Operation::Read,
            reading,
            sender,
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn append(
        &self,
        request: Request<Streaming<AppendReq>>,
    ) -> Result<Response<AppendResp>, Status> {
        self.access
            .require(request.metadata(), Operation::Append)
            .await?;
        let mut messages = request.into_inner();
        let options = match messages.message().await? {
            Some(AppendReq {
                content: Some(append_req::Content::Options(options)),
            }) => options,
            _ => {
                return Err(Status::invalid_argument(
                    "an append starts with its options",
                ))
            }
        };
        let stream = stream_name(options.stream_identifier.as_ref())?;
        self.access.check_stream(stream.category())?;
        let expected = match options.expected_stream_revision {
            Some(append_req::options::ExpectedStreamRevision::Revision(r)) => {
                ExpectedRevision::Exact(r)
            }
            Some(append_req::options::ExpectedStreamRevision::NoStream(_)) => {
                ExpectedRevision::NoStream
            }
            Some(append_req::options::ExpectedStreamRevision::Any(_)) => ExpectedRevision::Any,
            Some(append_req::options::ExpectedStreamRevision::StreamExists(_)) => {
                ExpectedRevision::StreamExists
            }
            None => {
                return Err(Status::invalid_argument(
                    "an append needs an expected revision",
                ))
            }
        };
        let mut events = Vec::new();
        let mut size = 0;
        while let Some(message) = messages.message().await? {
            let Some(append_req::Content::ProposedMessage(proposed)) = message.content else {
                return Err(Status::invalid_argument(
                    "options may come only once, first",
                ));
            };
            let proposed = Proposed {
                id: proposed.id.as_ref(),
                metadata: &proposed.metadata,
                custom_metadata: &proposed.custom_metadata,
                data: &proposed.data,
            };
            size += proposed.size();
            if size > self.limits.max_append_bytes {
                return Err(append_too_large(self.limits.max_append_bytes));
            }
            events.push(proposed.into_new_event()?);
        }
        let result = match append(&*self.store, &stream, expected, events).await? {
            Appended::Done { revision, position } => {
                append_resp::Result::Success(append_resp::Success {
                    current_revision_option: Some(match revision {
                        CurrentRevision::Revision(r) => {
                            append_resp::success::CurrentRevisionOption::CurrentRevision(r)
                        }
                        CurrentRevision::NoStream => {
                            append_resp::success::CurrentRevisionOption::NoStream(shared::Empty {})
                        }
                    }),
                    position_option: Some(match position {
                        Some(p) => {
                            append_resp::success::PositionOption::Position(append_resp::Position {
                                commit_position: p,
                                prepare_position: p,
                            })
                        }
                        None => append_resp::success::PositionOption::NoPosition(shared::Empty {}),
                    }),
                })
            }
            Appended::WrongExpectedRevision { actual } => {
                append_resp::Result::WrongExpectedVersion(wrong_expected_version(expected, actual))
            }
        };
        Ok(Response::new(AppendResp {
            result: Some(result),
        }))
    }

    async fn batch_append(
        &self,
        request: Request<Streaming<BatchAppendReq>>,
    ) -> Result<Response<Self::BatchAppendStream>, Status> {
        self.access
            .require(request.metadata(), Operation::Append)
            .await?;
        let metadata = request.metadata().clone();
        let mut messages = request.into_inner();
        let (sender, receiver) = mpsc::channel(BUFFER);
        let store = self.store.clone();
        let access = self.access.clone();
        let limit = self.limits.max_append_bytes;
        tokio::spawn(async move {
            // Batches may interleave on one call; each is keyed by its
            // correlation id until its final message.
            let mut open: HashMap<Vec<u8>, Batch> = HashMap::new();
            loop {
                let message = match messages.message().await {
                    Ok(Some(message)) => message,
                    Ok(None) => break,
                    Err(status) => {
                        let _ = sender.send(Err(status)).await;
                        break;
                    }
                };
                let key = message
                    .correlation_id
                    .as_ref()
                    .map(Message::encode_to_vec)
                    .unwrap_or_default();
                if !open.contains_key(&key) && open.len() >= MAX_OPEN_BATCHES {
                    let status = Status::resource_exhausted(format!(
                        "at most {MAX_OPEN_BATCHES} batches may be open on one call"
                    ));
                    let _ = sender.send(Err(status)).await;
                    break;
                }
                let batch = open.entry(key.clone()).or_insert_with(|| Batch {
                    correlation_id: message.correlation_id.clone(),
                    options: None,
                    events: Ok(Vec::new()),
                    size: 0,
                });
                if message.options.is_some() {
                    batch.options = message.options;
                }
                batch.add(message.proposed_messages, limit);
                if message.is_final {
                    if let Some(batch) = open.remove(&key) {
                        // The call may have outlived its key.
                        if let Err(status) = access.require(&metadata, Operation::Append).await {
                            let _ = sender.send(Err(status)).await;
                            break;
                        }
                        let response = batch.commit(&*store, &access).await;
                        if sender.send(response).await.is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn delete(&self, _: Request<DeleteReq>) -> Result<Response<DeleteResp>, Status> {
        Err(Status::unimplemented(
            "the log keeps every event: streams are not deleted",
        ))
    }

    async fn tombstone(&self, _: Request<TombstoneReq>) -> Result<Response<TombstoneResp>, Status> {
        Err(Status::unimplemented(
            "the log keeps every event: streams are not tombstoned",
        ))
    }
}

fn stream_name(identifier: Option<&shared::StreamIdentifier>) -> Result<StreamName, Status> {
    let name = convert::stream_name(identifier)?;
    StreamName::new(name).map_err(|e| Status::invalid_argument(e.to_string()))
}

/// KurrentDB's answer to an append over the size limit; the clients read the
/// `exception` trailer.
fn append_too_large(limit: usize) -> Status {
    let mut status = Status::invalid_argument(format!("Maximum Append Size of {limit} Exceeded."));
    let metadata = status.metadata_mut();
    metadata.insert(
        "exception",
        "maximum-append-size-exceeded".parse().expect("ascii"),
    );
    if let Ok(value) = limit.to_string().parse() {
        metadata.insert("maximum-append-size", value);
    }
    status
}

fn store_status(error: StoreError) -> Status {
    match error {
        StoreError::InvalidInput(e) => Status::invalid_argument(e.to_string()),
        StoreError::StorageFull(m) => Status::resource_exhausted(m),
        e if e.is_transient() => Status::unavailable(e.to_string()),
        e => Status::internal(e.to_string()),
    }
}

enum Appended {
    Done {
        revision: CurrentRevision,
        position: Option<Position>,
    },
    WrongExpectedRevision {
        actual: CurrentRevision,
    },
}

/// Appends as KurrentDB does: an empty append checks the expected revision
/// and changes nothing; a retry with the same event ids succeeds again.
async fn append(
    store: &dyn EventStore,
    stream: &StreamName,
    expected: ExpectedRevision,
    events: Vec<NewEvent>,
) -> Result<Appended, Status> {
    if events.is_empty() {
        let actual = store.stream_revision(stream).await.map_err(store_status)?;
        return Ok(if expected.accepts(actual) {
            Appended::Done {
                revision: actual,
                position: None,
            }
        } else {
            Appended::WrongExpectedRevision { actual }
        });
    }
    match store.append(stream, expected, events).await {
        Ok(result) => Ok(Appended::Done {
            revision: CurrentRevision::Revision(result.next_expected_revision),
            position: Some(result.position),
        }),
        Err(StoreError::WrongExpectedRevision { actual, .. }) => {
            Ok(Appended::WrongExpectedRevision { actual })
        }
        // Ids appended before, but not as this append: KurrentDB answers
        // a wrong expected version.
        Err(StoreError::IdempotencyConflict { .. }) => {
            let actual = store.stream_revision(stream).await.map_err(store_status)?;
            Ok(Appended::WrongExpectedRevision { actual })
        }
        Err(error) => Err(store_status(error)),
    }
}

fn wrong_expected_version(
    expected: ExpectedRevision,
    actual: CurrentRevision,
) -> append_resp::WrongExpectedVersion {
    use append_resp::wrong_expected_version::{
        CurrentRevisionOption, CurrentRevisionOption2060, ExpectedRevisionOption,
        ExpectedRevisionOption2060,
    };
    let empty = shared::Empty {};
    let (current, current_old) = match actual {
        CurrentRevision::Revision(r) => (
            CurrentRevisionOption::CurrentRevision(r),
            CurrentRevisionOption2060::CurrentRevision2060(r),
        ),
        CurrentRevision::NoStream => (
            CurrentRevisionOption::CurrentNoStream(empty),
            CurrentRevisionOption2060::NoStream2060(empty),
        ),
    };
    let (expected_now, expected_old) = match expected {
        ExpectedRevision::Exact(r) => (
            ExpectedRevisionOption::ExpectedRevision(r),
            ExpectedRevisionOption2060::ExpectedRevision2060(r),
        ),
        ExpectedRevision::Any => (
            ExpectedRevisionOption::ExpectedAny(empty),
            ExpectedRevisionOption2060::Any2060(empty),
        ),
        ExpectedRevision::StreamExists => (
            ExpectedRevisionOption::ExpectedStreamExists(empty),
            ExpectedRevisionOption2060::StreamExists2060(empty),
        ),
        ExpectedRevision::NoStream => (
            ExpectedRevisionOption::ExpectedNoStream(empty),
            ExpectedRevisionOption2060::Any2060(empty),
        ),
    };
    append_resp::WrongExpectedVersion {
        current_revision_option_20_6_0: Some(current_old),
        expected_revision_option_20_6_0: Some(expected_old),
        current_revision_option: Some(current),
        expected_revision_option: Some(expected_now),
    }
}

/// One batch of a BatchAppend call, gathered until its final message.
struct Batch {
    correlation_id: Option<shared::Uuid>,
    options: Option<batch_append_req::Options>,
    /// The events so far, or why the batch is refused.
    events: Result<Vec<NewEvent>, rpc::Status>,
    size: usize,
}

impl Batch {
    fn add(&mut self, proposed: Vec<batch_append_req::ProposedMessage>, limit: usize) {
        let Ok(events) = &mut self.events else {
            return;
        };
        for message in &proposed {
            let proposed = Proposed {
                id: message.id.as_ref(),
                metadata: &message.metadata,
                custom_metadata: &message.custom_metadata,
                data: &message.data,
            };
            self.size += proposed.size();
            if self.size > limit {
                self.events = Err(rpc_status(
                    rpc::Code::InvalidArgument,
                    format!("Maximum Append Size of {limit} Exceeded."),
                    "event_store.client.MaximumAppendSizeExceeded",
                    shared::MaximumAppendSizeExceeded {
                        max_append_size: u32::try_from(limit).unwrap_or(u32::MAX),
                    }
                    .encode_to_vec(),
                ));
                return;
            }
            match proposed.into_new_event() {
                Ok(event) => events.push(event),
                Err(status) => {
                    self.events = Err(bad_request(status.message()));
                    return;
                }
            }
        }
    }

    async fn commit(
        self,
        store: &dyn EventStore,
        access: &Access,
    ) -> Result<BatchAppendResp, Status> {
        use batch_append_req::options::ExpectedStreamPosition as Req;
        use batch_append_resp::ExpectedStreamPosition as Resp;
        let mut response = BatchAppendResp {
            correlation_id: self.correlation_id,
            ..BatchAppendResp::default()
        };
        let Some(options) = self.options else {
            response.result = Some(batch_append_resp::Result::Error(bad_request(
                "a batch needs options in its first message",
            )));
            return Ok(response);
        };
        response.stream_identifier = options.stream_identifier.clone();
        let (expected, echo) = match options.expected_stream_position {
            Some(Req::StreamPosition(r)) => (ExpectedRevision::Exact(r), Resp::StreamPosition(r)),
            Some(Req::NoStream(e)) => (ExpectedRevision::NoStream, Resp::NoStream(e)),
            Some(Req::Any(e)) => (ExpectedRevision::Any, Resp::Any(e)),
            Some(Req::StreamExists(e)) => (ExpectedRevision::StreamExists, Resp::StreamExists(e)),
            None => (ExpectedRevision::Any, Resp::Any(())),
        };
        response.expected_stream_position = Some(echo);
        let stream = match stream_name(options.stream_identifier.as_ref()) {
            Ok(stream) => stream,
            Err(status) => {
                response.result = Some(batch_append_resp::Result::Error(bad_request(
                    status.message(),
                )));
                return Ok(response);
            }
        };
        if let Err(status) = access.check_stream(stream.category()) {
            response.result = Some(batch_append_resp::Result::Error(rpc_status(
                rpc::Code::PermissionDenied,
                status.message().to_owned(),
                "event_store.client.AccessDenied",
                shared::AccessDenied {}.encode_to_vec(),
            )));
            return Ok(response);
        }
        let events = match self.events {
            Ok(events) => events,
            Err(error) => {
                response.result = Some(batch_append_resp::Result::Error(error));
                return Ok(response);
            }
        };
        response.result = Some(match append(store, &stream, expected, events).await {
            Ok(Appended::Done { revision, position }) => {
                use batch_append_resp::success::{CurrentRevisionOption, PositionOption};
                batch_append_resp::Result::Success(batch_append_resp::Success {
                    current_revision_option: Some(match revision {
                        CurrentRevision::Revision(r) => CurrentRevisionOption::CurrentRevision(r),
                        CurrentRevision::NoStream => CurrentRevisionOption::NoStream(()),
                    }),
                    position_option: Some(match position {
                        Some(p) => PositionOption::Position(shared::AllStreamPosition {
                            commit_position: p,
                            prepare_position: p,
                        }),
                        None => PositionOption::NoPosition(()),
                    }),
                })
            }
            Ok(Appended::WrongExpectedRevision { actual }) => {
                batch_append_resp::Result::Error(wrong_expected_version_status(expected, actual))
            }
            Err(status) => batch_append_resp::Result::Error(rpc::Status {
                code: status.code() as i32,
                message: status.message().to_owned(),
                details: None,
            }),
        });
        Ok(response)
    }
}

fn rpc_status(code: rpc::Code, message: String, type_name: &str, detail: Vec<u8>) -> rpc::Status {
    rpc::Status {
        code: code as i32,
        message,
        details: Some(prost_types::Any {
            type_url: format!("type.googleapis.com/{type_name}"),
            value: detail,
        }),
    }
}

fn bad_request(message: &str) -> rpc::Status {
    rpc_status(
        rpc::Code::InvalidArgument,
        message.to_owned(),
        "event_store.client.BadRequest",
        shared::BadRequest {
            message: message.to_owned(),
        }
        .encode_to_vec(),
    )
}

fn wrong_expected_version_status(
    expected: ExpectedRevision,
    actual: CurrentRevision,
) -> rpc::Status {
    use shared::wrong_expected_version::{
        CurrentStreamRevisionOption as Current, ExpectedStreamPositionOption as Expected,
    };
    let detail = shared::WrongExpectedVersion {
        current_stream_revision_option: Some(match actual {
            CurrentRevision::Revision(r) => Current::CurrentStreamRevision(r),
            CurrentRevision::NoStream => Current::CurrentNoStream(()),
        }),
        expected_stream_position_option: Some(match expected {
            ExpectedRevision::Exact(r) => Expected::ExpectedStreamPosition(r),
            ExpectedRevision::Any => Expected::ExpectedAny(()),
            ExpectedRevision::StreamExists => Expected::ExpectedStreamExists(()),
            ExpectedRevision::NoStream => Expected::ExpectedNoStream(()),
        }),
    };
    rpc_status(
        rpc::Code::FailedPrecondition,
        "WrongExpectedVersion".to_owned(),
        "event_store.client.WrongExpectedVersion",
        detail.encode_to_vec(),
    )
}

/// A read as the request describes it.
struct Read {
    target: Target,
    direction: Direction,
    /// `None`: a subscription.
    count: Option<u64>,
    filter: Option<EventFilter>,
    uuid_format: UuidFormat,
}

enum Target {
    Stream { name: StreamName, from: StreamFrom },
    All { from: AllFrom },
}

type Sender = mpsc::Sender<Result<ReadResp, Status>>;

impl Read {
    fn new(options: read_req::Options) -> Result<Self, Status> {
        use read_req::options::{
            all_options::AllOption, stream_options::RevisionOption, CountOption, FilterOption,
            StreamOption,
        };
        let target = match options.stream_option {
            Some(StreamOption::Stream(stream)) => Target::Stream {
                name: stream_name(stream.stream_identifier.as_ref())?,
                from: match stream.revision_option {
                    Some(RevisionOption::Revision(r)) => StreamFrom::Revision(r),
                    Some(RevisionOption::End(_)) => StreamFrom::End,
                    Some(RevisionOption::Start(_)) | None => StreamFrom::Start,
                },
            },
            Some(StreamOption::All(all)) => Target::All {
                from: match all.all_option {
                    Some(AllOption::Position(p)) => AllFrom::Position(p.commit_position),
                    Some(AllOption::End(_)) => AllFrom::End,
                    Some(AllOption::Start(_)) | None => AllFrom::Start,
                },
            },
            None => return Err(Status::invalid_argument("a read names a stream or $all")),
        };
        let direction = match read_req::options::ReadDirection::try_from(options.read_direction) {
            Ok(read_req::options::ReadDirection::Backwards) => Direction::Backwards,
            Ok(read_req::options::ReadDirection::Forwards) => Direction::Forwards,
            Err(_) => return Err(Status::invalid_argument("unknown read direction")),
        };
        let count = match options.count_option {
            Some(CountOption::Count(count)) => Some(count),
            Some(CountOption::Subscription(_)) => None,
            None => {
                return Err(Status::invalid_argument(
                    "a read needs a count or a subscription",
                ))
            }
        };
        let filter = match options.filter_option {
            Some(FilterOption::Filter(filter)) => Some(EventFilter::new(&filter)?),
            Some(FilterOption::NoFilter(_)) | None => None,
        };
        if filter.is_some() && matches!(target, Target::Stream { .. }) {
            return Err(Status::invalid_argument("filters apply to $all only"));
        }
        let uuid_format = match options.uuid_option.and_then(|o| o.content) {
            Some(read_req::options::uuid_option::Content::String(_)) => UuidFormat::String,
            _ => UuidFormat::Structured,
        };
        Ok(Self {
            target,
            direction,
            count,
            filter,
            uuid_format,
        })
    }

    async fn run(self, store: Arc<dyn EventStore>, sender: &Sender) -> Result<(), Status> {
        match (&self.target, self.count) {
            (Target::Stream { name, from }, Some(count)) => {
                self.read_stream(&*store, name, *from, count, sender).await
            }
            (Target::All { from }, Some(count)) => {
                self.read_all(&*store, *from, count, sender).await
            }
            (Target::Stream { name, from }, None) => {
                self.subscribe_stream(store, name, *from, sender).await
            }
            (Target::All { from }, None) => self.subscribe_all(store, *from, sender).await,
        }
    }

    fn event(&self, event: &RecordedEvent) -> ReadResp {
        ReadResp {
            content: Some(read_resp::Content::Event(read_resp::ReadEvent {
                event: Some(convert::recorded_event(event, self.uuid_format)),
                link: None,
                position: Some(read_resp::read_event::Position::CommitPosition(
                    event.position,
                )),
            })),
        }
    }

    async fn read_stream(
        &self,
        store: &dyn EventStore,
        name: &StreamName,
        mut from: StreamFrom,
        count: u64,
        sender: &Sender,
    ) -> Result<(), Status> {
        if store.stream_revision(name).await.map_err(store_status)? == CurrentRevision::NoStream {
            let not_found = read_resp::StreamNotFound {
                stream_identifier: Some(convert::stream_identifier(name.as_str())),
            };
            let _ = sender
                .send(Ok(ReadResp {
                    content: Some(read_resp::Content::StreamNotFound(not_found)),
                }))
                .await;
            return Ok(());
        }
        let mut left = count;
        while left > 0 {
            let limit = usize::try_from(left).unwrap_or(PAGE).min(PAGE);
            let page = store
                .read_stream(name, from, self.direction, limit)
                .await
                .map_err(store_status)?;
            for event in &page {
                if sender.send(Ok(self.event(event))).await.is_err() {
                    return Ok(());
                }
            }
            left -= page.len() as u64;
            if page.len() < limit {
                break;
            }
            match (page.last(), self.direction) {
                (Some(last), Direction::Forwards) => from = StreamFrom::Revision(last.revision + 1),
                (Some(last), Direction::Backwards) if last.revision > 0 => {
                    from = StreamFrom::Revision(last.revision - 1);
                }
                _ => break,
            }
        }
        Ok(())
    }

    async fn read_all(
        &self,
        store: &dyn EventStore,
        mut from: AllFrom,
        count: u64,
        sender: &Sender,
    ) -> Result<(), Status> {
        let mut left = count;
        while left > 0 {
            let query = AllQuery {
                from,
                direction: self.direction,
                limit: PAGE,
                filter: AllFilter::default(),
            };
            let page = store.read_all(&query).await.map_err(store_status)?;
            for event in &page.events {
                if self.filter.as_ref().is_some_and(|f| !f.matches(event)) {
                    continue;
                }
                if sender.send(Ok(self.event(event))).await.is_err() {
                    return Ok(());
                }
                left -= 1;
                if left == 0 {
                    return Ok(());
                }
            }
            if page.is_end {
                break;
            }
            from = match self.direction {
                Direction::Forwards => AllFrom::Position(page.scanned_to + 1),
                Direction::Backwards if page.scanned_to > 1 => {
                    AllFrom::Position(page.scanned_to - 1)
                }
                Direction::Backwards => break,
            };
        }
        Ok(())
    }

    async fn confirm(sender: &Sender) -> bool {
        let confirmation = read_resp::SubscriptionConfirmation {
            subscription_id: uuid::Uuid::new_v4().to_string(),
        };
        sender
            .send(Ok(ReadResp {
                content: Some(read_resp::Content::Confirmation(confirmation)),
            }))
            .await
            .is_ok()
    }

    fn caught_up(position: Position, stream_revision: i64) -> ReadResp {
        ReadResp {
            content: Some(read_resp::Content::CaughtUp(read_resp::CaughtUp {
                timestamp: Some(now()),
                stream_revision,
                position: Some(read_resp::Position {
                    commit_position: position,
                    prepare_position: position,
                }),
            })),
        }
    }

    /// A catch-up subscription to `$all`: history after `from`, then live.
    async fn subscribe_all(
        &self,
        store: Arc<dyn EventStore>,
        from: AllFrom,
        sender: &Sender,
    ) -> Result<(), Status> {
        if !Self::confirm(sender).await {
            return Ok(());
        }
        let from = match from {
            AllFrom::Start => SubscribeFrom::Start,
            AllFrom::End => SubscribeFrom::End,
            AllFrom::Position(p) => SubscribeFrom::After(p),
        };
        let mut subscription = subscribe(store, from, AllFilter::default());
        let mut scanned = 0u64;
        while let Some(message) = subscription.next().await {
            let response = match message.map_err(store_status)? {
                SubscriptionMessage::Event(event) => {
                    scanned += 1;
                    match &self.filter {
                        Some(filter) if !filter.matches(&event) => {
                            if scanned < filter.checkpoint_interval {
                                continue;
                            }
                            scanned = 0;
                            checkpoint(event.position)
                        }
                        _ => self.event(&event),
                    }
                }
                SubscriptionMessage::CaughtUp { position } => Self::caught_up(position, -1),
                SubscriptionMessage::Checkpoint { .. } => continue,
            };
            if sender.send(Ok(response)).await.is_err() {
                break;
            }
        }
        Ok(())
    }

    /// A catch-up subscription to one stream: events after revision `from`
    /// (all of them from the start), then live ones.
    async fn subscribe_stream(
        &self,
        store: Arc<dyn EventStore>,
        name: &StreamName,
        from: StreamFrom,
        sender: &Sender,
    ) -> Result<(), Status> {
        if !Self::confirm(sender).await {
            return Ok(());
        }
        let mut next = match from {
            StreamFrom::Start => 0,
            StreamFrom::Revision(r) => r + 1,
            StreamFrom::End => match store.stream_revision(name).await.map_err(store_status)? {
                CurrentRevision::Revision(r) => r + 1,
                CurrentRevision::NoStream => 0,
            },
        };
        // Read the stream page by page; the head is noted before each read,
        // so every event the last read missed lies after it in `$all`.
        let head = loop {
            let head = store.head().await.map_err(store_status)?;
            let page = store
                .read_stream(name, StreamFrom::Revision(next), Direction::Forwards, PAGE)
                .await
                .map_err(store_status)?;
            for event in &page {
                if sender.send(Ok(self.event(event))).await.is_err() {
                    return Ok(());
                }
                next = event.revision + 1;
            }
            if page.len() < PAGE {
                break head;
            }
        };
        let revision = i64::try_from(next).unwrap_or(i64::MAX) - 1;
        if sender
            .send(Ok(Self::caught_up(head, revision)))
            .await
            .is_err()
        {
            return Ok(());
        }
        let category = aftersales_store::category_of(name.as_str()).to_owned();
        let mut subscription = subscribe(
            store,
            SubscribeFrom::After(head),
            AllFilter::category(category),
        );
        while let Some(message) = subscription.next().await {
            if let SubscriptionMessage::Event(event) = message.map_err(store_status)? {
                if event.stream == name.as_str() && event.revision >= next {
                    next = event.revision + 1;
                    if sender.send(Ok(self.event(&event))).await.is_err() {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

/// How often a long-lived call looks at its key again: as often as keys
/// are cached, so a revoked key's subscription ends within twice that.
const RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// Ends `call` with the refusal when the key behind `metadata` is revoked
/// (or loses the right to `what`) while the call goes on.
async fn watch_key<T: Send + 'static>(
    access: Arc<Access>,
    metadata: tonic::metadata::MetadataMap,
    what: Operation,
    mut call: tokio::task::JoinHandle<()>,
    sender: mpsc::Sender<Result<T, Status>>,
) {
    if access.authenticator.is_none() {
        return;
    }
    loop {
        tokio::select! {
            _ = &mut call => return,
            () = tokio::time::sleep(RECHECK) => match access.require(&metadata, what).await {
                // Keys that cannot be looked up just now are not revoked.
                Err(status) if status.code() != tonic::Code::Unavailable => {
                    call.abort();
                    let _ = sender.send(Err(status)).await;
                    return;
                }
                _ => {}
            },
        }
    }
}

fn checkpoint(position: Position) -> ReadResp {
    ReadResp {
        content: Some(read_resp::Content::Checkpoint(read_resp::Checkpoint {
            commit_position: position,
            prepare_position: position,
            timestamp: Some(now()),
        })),
    }
}

fn now() -> prost_types::Timestamp {
    let now = chrono::Utc::now();
    prost_types::Timestamp {
        seconds: now.timestamp(),
        nanos: i32::try_from(now.timestamp_subsec_nanos()).unwrap_or(0),
    }
}
