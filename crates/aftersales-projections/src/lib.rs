//! Read models: everything the team reads, folded from the event log.
//!
//! Five projections keep documents in a read database of their own
//! ([`ReadDb`], derived data beside the log):
//! [`CaseViews`] (each case now, its timeline and a searchable list),
//! [`Ledger`] (double-entry postings of every money event), [`Reports`]
//! (the facts the SOP reports are built from), the [`resources`] beside
//! cases (unpaid orders, repair orders, sampling audits, access grants) and the [`schedule`] (when
//! each aggregate's next time-driven command falls due). A [`runner`] feeds them from
//! a catch-up subscription, writing each batch's documents with the
//! checkpoint in one transaction; [`admin`] rebuilds them into shadow tables
//! and swaps them in, verifies them against a rebuild, resets them, and
//! reports their status; a report "as of" a past position replays the log
//! into a private in-memory copy. The [`worklists`] are read from the case
//! views.

pub mod admin;
pub mod case_views;
mod db;
mod docs;
mod envelope;
mod error;
pub mod ledger;
mod projection;
pub mod reports;
pub mod resources;
pub mod runner;
pub mod schedule;
mod sqlite_reads;
mod table;
pub mod workbook;
pub mod worklists;

pub use case_views::{CaseView, CaseViews};
pub use db::{
    read_db_url, DocRow, ListQuery, ParkedEvent, ReadDb, SqliteDb, StatusRow, READ_SCHEMA,
};
pub use docs::Docs;
pub use envelope::{AnyEvent, Envelope};
pub use error::ProjectionError;
pub use ledger::Ledger;
pub use projection::{DocKey, Projection};
pub use reports::Reports;
pub use table::{for_reading, heading, plain, spreadsheet_cell, Table, TableDocument};
