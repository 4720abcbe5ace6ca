//! The `$all` filters of the protocol: a regular expression or a list of
//! prefixes, on stream names or on event types.
//!
//! The expressions follow .NET's `Regex.IsMatch` (a match anywhere, with
//! lookaround: the Python client excludes system events with
//! `^(?!(\$.+$|…))`), so they are compiled with `fancy-regex`.

use aftersales_store::RecordedEvent;
use fancy_regex::Regex;
use tonic::Status;

use crate::proto::event_store::client::streams::read_req::options::filter_options::{
    Expression, Filter as Target, Window,
};
use crate::proto::event_store::client::streams::read_req::options::FilterOptions;

/// Longest expression accepted: a filter is compiled per call.
const MAX_REGEX_BYTES: usize = 4096;

/// Events scanned between checkpoints when the filter names no window.
const DEFAULT_WINDOW: u32 = 32;

#[derive(Debug)]
pub struct EventFilter {
    on_stream_name: bool,
    matcher: Matcher,
    /// Scanned events between two checkpoints of a filtered subscription.
    pub checkpoint_interval: u64,
}

#[derive(Debug)]
enum Matcher {
    Regex(Box<Regex>),
    Prefixes(Vec<String>),
}

impl EventFilter {
    pub fn new(options: &FilterOptions) -> Result<Self, Status> {
        let (on_stream_name, expression) = match &options.filter {
            Some(Target::StreamIdentifier(expression)) => (true, expression),
            Some(Target::EventType(expression)) => (false, expression),
            None => {
                return Err(Status::invalid_argument(
                    "a filter needs a stream or event type expression",
                ))
            }
        };
        let window = match options.window {
            Some(Window::Max(max)) if max > 0 => max,
            _ => DEFAULT_WINDOW,
        };
        let multiplier = options.checkpoint_interval_multiplier.max(1);
        Ok(Self {
            on_stream_name,
            matcher: matcher(expression)?,
            checkpoint_interval: u64::from(window) * u64::from(multiplier),
        })
    }

    pub fn matches(&self, event: &RecordedEvent) -> bool {
        let subject = if self.on_stream_name {
            event.stream.as_str()
        } else {
            event.event_type.as_str()
        };
        match &self.matcher {
            // A regex that fails at run time (backtracking limit) matches
            // nothing rather than everything.
            Matcher::Regex(regex) => regex.is_match(subject).unwrap_or(false),
            Matcher::Prefixes(prefixes) => prefixes.iter().any(|p| subject.starts_with(p.as_str())),
        }
    }
}

fn matcher(expression: &Expression) -> Result<Matcher, Status> {
    if !expression.prefix.is_empty() {
        return Ok(Matcher::Prefixes(expression.prefix.clone()));
    }
    if expression.regex.len() > MAX_REGEX_BYTES {
        return Err(Status::invalid_argument("the filter's regex is too long"));
    }
    Regex::new(&expression.regex)
        .map(|regex| Matcher::Regex(Box::new(regex)))
        .map_err(|e| Status::invalid_argument(format!("the filter's regex does not compile: {e}")))
}
