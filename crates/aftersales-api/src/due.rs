//! The scheduler's index of due work: the `schedule` read model, which
//! lives with the other read models the API serves.

use aftersales_commands::{DueAggregate, DueIndex};
use aftersales_projections::{schedule, ReadDb};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// The [`DueIndex`] the service's scheduler reads.
#[derive(Debug, Clone)]
pub struct ScheduleIndex(pub ReadDb);

#[async_trait]
impl DueIndex for ScheduleIndex {
    async fn due(
        &self,
        category: &'static str,
        now: DateTime<Utc>,
        after: Option<DueAggregate>,
        limit: usize,
    ) -> Result<Vec<DueAggregate>, Box<dyn std::error::Error + Send + Sync>> {
        let after = after.map(|(due, aggregate_id)| schedule::Due { due, aggregate_id });
        let page = schedule::due(&self.0, category, now, after, limit).await?;
        Ok(page.into_iter().map(|d| (d.due, d.aggregate_id)).collect())
    }
}
