//! Personal data (客户信息): who may see it unmasked, masking it for
//! everyone else, and recording every unmasked read outside one's own cases.
//!
//! Masking works on the JSON a response is made of, by field name, so that
//! case views, event data and report rows are masked alike: a new event
//! field named `phone` or `address` is masked without anyone remembering to.

use aftersales_domain::grant::AccessGrant;
use aftersales_domain::personal;
use aftersales_domain::streams::{PersonalDataViewed, PrivacyEvent, PERSONAL_DATA_VIEWS};
use aftersales_domain::{DomainEvent, Role};
use aftersales_projections::CaseView;
use aftersales_store::{
    Direction, EventMetadata, ExpectedRevision, NewEvent, StreamFrom, StreamName,
};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Masks personal data in `value`, at any depth, by the domain's marks
/// ([`aftersales_domain::personal`]): personal fields whole, and the
/// numbers and addresses inside free text.
pub fn mask(value: &mut Value) {
    personal::mask_json(value);
}

/// A line of a list as `caller` sees it: personal data shows only on the
/// caller's own cases (assigned to them, or registered by them and not yet
/// assigned). Unmasked reads of others' cases go through the case itself,
/// and are recorded.
pub fn in_list(
    line: &impl Serialize,
    owner: Option<&str>,
    caller: &Caller,
) -> Result<Value, ApiError> {
    let mut json = serde_json::to_value(line).map_err(|e| ApiError::Internal(e.to_string()))?;
    if owner != Some(caller.key.name.as_str()) {
        mask(&mut json);
    }
    Ok(json)
}

/// A case's stored view as a line of a list, written into `out`: [`in_list`]
/// on its stored text. The caller's own case is passed on as stored; of
/// another's, only the parts that may hold personal data are read.
pub fn write_list_line(case: &str, caller: &Caller, out: &mut String) -> Result<(), ApiError> {
    let corrupt = |e: serde_json::Error| ApiError::Internal(format!("a stored case: {e}"));
    let stored = personal::StoredObject::parse(case).map_err(corrupt)?;
    // Whose case it is, as `CaseView::owner` says.
    let owner = stored
        .string("assignee")
        .or_else(|| stored.string("registered_by"));
    if owner.as_deref() == Some(caller.key.name.as_str()) {
        out.push_str(stored.as_str());
    } else {
        out.push_str(&stored.masked().map_err(corrupt)?);
    }
    Ok(())
}

/// Why a caller sees a case's personal data unmasked.
#[derive(Debug, Clone, PartialEq)]
pub enum Sight {
    /// The case is the caller's own (assigned to them, or registered by
    /// them and not yet assigned), and they have read it since it came to
    /// them: nothing to record.
    Own,
    /// The caller's own case, read for the first time since it was
    /// assigned to them: recorded like any other unmasked read, so that a
    /// change of hands shows in the case's history.
    NewlyOwn,
    /// A supervisor's or administrator's right, recorded.
    Role,
    /// An approved access grant (客户信息借阅), recorded with its id.
    Grant(Uuid),
    /// Masked.
    Masked,
}

/// Decides how `caller` sees `view`, checking `grant` if the request named
/// one (`X-Access-Grant`).
pub async fn sight(
    state: &AppState,
    caller: &Caller,
    view: &CaseView,
    grant: Option<Uuid>,
) -> Result<Sight, ApiError> {
    if view.owner() == Some(caller.key.name.as_str()) {
        return Ok(if read_since_assigned(state, caller, view).await? {
            Sight::Own
        } else {
            Sight::NewlyOwn
        });
    }
    if let Some(grant_id) = grant {
        let (_, grant_state): (_, AccessGrant) = state.inner.grants.load(grant_id).await?;
        let customer = &view.customer;
        let covers = grant_state.customer == customer.phone
            || customer.buyer_id.as_deref() == Some(grant_state.customer.as_str());
        if grant_state.requested_by == caller.key.name
            && covers
            && grant_state.is_active(state.inner.clock.now())
        {
            return Ok(Sight::Grant(grant_id));
        }
        return Err(ApiError::Forbidden(
            "the access grant is not active, not yours, or not for this customer".to_owned(),
        ));
    }
    Ok(match caller.role() {
        Role::Supervisor | Role::Admin => Sight::Role,
        _ => Sight::Masked,
    })
}

/// Whether `caller` has an unmasked read of the case recorded since it was
/// assigned to them. The record of a case's reads is short, and read from
/// its end.
async fn read_since_assigned(
    state: &AppState,
    caller: &Caller,
    view: &CaseView,
) -> Result<bool, ApiError> {
    let Some(assigned_at) = view.assigned_at else {
        return Ok(true);
    };
    let stream = StreamName::of(PERSONAL_DATA_VIEWS, view.case_id)?;
    let reads = state
        .inner
        .store
        .read_stream(&stream, StreamFrom::End, Direction::Backwards, 1_000)
        .await?;
    for read in &reads {
        let Ok(PrivacyEvent::PersonalDataViewed(viewed)) =
            PrivacyEvent::decode(&read.event_type, read.data.get())
        else {
            continue;
        };
        if viewed.at < assigned_at {
            return Ok(false);
        }
        let metadata: EventMetadata = serde_json::from_str(read.metadata.get()).unwrap_or_default();
        if metadata.actor_id.as_deref() == Some(caller.key.name.as_str()) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Serialises `value` for `caller`: unmasked if `sight` allows it (and
/// then recorded unless the case is their own), masked otherwise.
pub async fn reveal<T: Serialize>(
    state: &AppState,
    caller: &Caller,
    view: &CaseView,
    sight: &Sight,
    read: &str,
    value: &T,
) -> Result<Value, ApiError> {
    let mut json = serde_json::to_value(value).map_err(|e| ApiError::Internal(e.to_string()))?;
    let grant_id = match sight {
        Sight::Own => return Ok(json),
        Sight::Masked => {
            mask(&mut json);
            return Ok(json);
        }
        Sight::Role | Sight::NewlyOwn => None,
        Sight::Grant(id) => Some(*id),
    };
    let record = PersonalDataViewed {
        case_id: view.case_id,
        customer: personal::mask("phone", &view.customer.phone),
        grant_id,
        read: read.to_owned(),
        at: state.inner.clock.now(),
    };
    let metadata = EventMetadata {
        actor_id: Some(caller.key.name.clone()),
        actor_role: Some(caller.role().as_str().to_owned()),
        ..EventMetadata::default()
    };
    let stream = StreamName::of(PERSONAL_DATA_VIEWS, view.case_id)?;
    let metadata =
        serde_json::to_value(&metadata).map_err(|e| ApiError::Internal(e.to_string()))?;
    let event_type = PrivacyEvent::from(record.clone()).event_type();
    let event = NewEvent::encode(event_type, &record)
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .with_metadata(metadata);
    // No record, no data: the read fails if it cannot be recorded.
    state
        .inner
        .store
        .append(&stream, ExpectedRevision::Any, vec![event])
        .await?;
    Ok(json)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn masks_personal_fields_at_any_depth_and_leaves_the_rest() {
        let mut value = json!({
            "customer": {"name": "王小明", "phone": "13812345678", "address": "浙江省杭州市西湖区文三路 90 号",
                         "email": "xiaoming@example.com", "buyer_id": "tb_wang88"},
            "product": "扫地机器人",
            "timeline": [{"number": "13987654321", "party_name": "客户家人"}],
            "name": "a product name stays"
        });
        mask(&mut value);
        assert_eq!(value["customer"]["name"], "王**");
        assert_eq!(value["customer"]["phone"], "138****5678");
        assert_eq!(value["customer"]["address"], "浙江省杭州市****");
        assert_eq!(value["customer"]["email"], "x***@example.com");
        assert_eq!(value["customer"]["buyer_id"], "t**");
        assert_eq!(value["timeline"][0]["number"], "139****4321");
        assert_eq!(value["timeline"][0]["party_name"], "客**");
        assert_eq!(value["product"], "扫地机器人");
        assert_eq!(value["name"], "a product name stays");
        assert!(!value.to_string().contains("12345678"));
    }

    #[test]
    fn refunds_audits_and_free_text_are_masked_too() {
        let mut value = json!({
            "payee_account": "6222021234567890123",
            "population": ["13812345678", "tb_wang88"],
            "drawn": ["13812345678"],
            "problem": {"notes": "客户留了备用电话 13987654321"},
            "content": "与客户核实，邮箱 xiaoming@example.com",
            "tracking_no": "SF1234567890123"
        });
        mask(&mut value);
        let text = value.to_string();
        for secret in [
            "6222021234567890123",
            "13812345678",
            "tb_wang88",
            "13987654321",
            "xiaoming@",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(value["payee_account"], "622****0123");
        assert_eq!(value["population"][1], "t**");
        assert_eq!(value["problem"]["notes"], "客户留了备用电话 139****4321");
        // A tracking number is not personal data: couriers print it on parcels.
        assert_eq!(value["tracking_no"], "SF1234567890123");
    }
}
