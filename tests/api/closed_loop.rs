//! A case followed through, as a supervisor runs the week from the API on
//! a sandbox store: handed off, escalated when the department is late,
//! warned and escalated before its own deadline, given a new deadline the
//! customer is told of, the result told, closed, revisited, scored low,
//! followed up; and the worklists and the weekly and monthly reports show
//! each step.

use std::sync::Arc;

use aftersales_api::ScheduleIndex;
use aftersales_commands::{Handler, Policies, Scheduler};
use aftersales_domain::case::Case;
use aftersales_domain::model::{Category, Priority};
use aftersales_tests::{on_both_backends, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{problem_code, Service};

on_both_backends!(a_supervisor_runs_the_week_from_the_api);

impl Service {
    /// A read once the read models reflect everything written so far.
    async fn read(&self, path: &str, token: &str) -> Value {
        let head = self.store.head().await.unwrap().to_string();
        let (status, _, body) = self
            .send(
                Method::GET,
                path,
                token,
                &[("x-min-log-position", &head)],
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    async fn act(&self, case: Uuid, command: &str, token: &str, body: Value) -> Value {
        let (status, _, answer) = self
            .post(&format!("/v1/cases/{case}/{command}"), token, &body)
            .await;
        assert_eq!(status, StatusCode::OK, "{command}: {answer}");
        answer
    }

    async fn advance_clock(&self, admin: &str, minutes: u32) {
        let body = json!({"advance_minutes": minutes});
        let (status, _, answer) = self
            .send(Method::POST, "/v1/clock", admin, &[], Some(&body))
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
}

fn items(list: &Value) -> &Vec<Value> {
    list["items"].as_array().unwrap()
}

async fn a_supervisor_runs_the_week_from_the_api(db: TestDb) {
    let service = Service::start_sandbox(db).await;
    let admin = service.admin().await;
    let supervisor = service.supervisor.clone();
    let agent = service.agent.clone();
    // Monday 2027-03-01, 10:00 in Shanghai.
    let (status, _, body) = service
        .send(
            Method::POST,
            "/v1/clock",
            &admin,
            &[],
            Some(&json!({"to": "2027-03-01T02:00:00Z"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let sandbox = service.sandbox.clone().unwrap();
    let scheduler = Scheduler::new(
        service.store.clone(),
        Arc::new(ScheduleIndex(service.read_db.clone())),
        Arc::new(Handler::<Case>::new(
            service.store.clone(),
            Policies::load(service.store.as_ref()).await.unwrap(),
            sandbox.clone(),
        )),
        sandbox,
    );
    // The scheduler reads what is due from the read models.
    let run_scheduler = || async {
        service.read("/v1/cases", &supervisor).await;
        scheduler.run_once().await.unwrap();
    };

    // Registered, assigned, handed to the warehouse, the customer told.
    let case = service
        .register_as(Priority::P2, Category::WarehouseError)
        .await;
    service
        .act(case, "assign-case", &agent, json!({"agent_id": "agent-li"}))
        .await;
    let handoff = Uuid::new_v4();
    service
        .act(
            case,
            "hand-off-case",
            &agent,
            json!({"handoff_id": handoff, "department": "warehouse",
                   "question": "请核对发货重量", "told_customer_via": "phone"}),
        )
        .await;
    let handoffs = service.read("/v1/worklists/handoffs", &supervisor).await;
    assert_eq!(items(&handoffs).len(), 1, "{handoffs}");
    let item = &items(&handoffs)[0];
    assert_eq!(item["item_id"], handoff.to_string());
    assert_eq!(item["department"], "warehouse");
    assert_eq!(item["owner"], "agent-li");
    assert_eq!(item["detail"], "waiting for the department");
    assert_eq!(handoffs["overdue"], 0);
    let overdue = service
        .read("/v1/worklists/handoffs?overdue=true", &supervisor)
        .await;
    assert!(items(&overdue).is_empty(), "{overdue}");

    // Thursday 10:00: the warehouse's 24 service hours are long past, and
    // 36 of the case's 48 service hours (75%) have gone by.
    service.advance_clock(&admin, 3 * 24 * 60).await;
    run_scheduler().await;
    let overdue = service
        .read("/v1/worklists/handoffs?overdue=true", &supervisor)
        .await;
    assert_eq!(items(&overdue).len(), 1, "{overdue}");
    assert_eq!(items(&overdue)[0]["detail"], "escalated to warehouse head");
    assert_eq!(overdue["overdue"], 1);
    let at_risk = service.read("/v1/worklists/at-risk", &supervisor).await;
    assert_eq!(items(&at_risk).len(), 1, "{at_risk}");
    assert_eq!(items(&at_risk)[0]["case_id"], case.to_string());
    // The warehouse's other department worklists are not this one's.
    let finance = service
        .read("/v1/worklists/handoffs?department=finance", &supervisor)
        .await;
    assert!(items(&finance).is_empty(), "{finance}");

    // The shift handover shows agent-li's case, at risk, with its handoff.
    let handover = service
        .read("/v1/worklists/handover?agent=agent-li", &supervisor)
        .await;
    let agents = handover["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 1, "{handover}");
    assert_eq!(agents[0]["agent"], "agent-li");
    assert_eq!(agents[0]["open_cases"], 1);
    assert_eq!(agents[0]["at_risk"], 1);
    assert_eq!(agents[0]["open_handoffs"], 1);
    assert_eq!(agents[0]["overdue"], 1, "{handover}");

    // The agent escalates before the deadline; a supervisor agrees a new
    // one, and the customer is told.
    let (status, _, refused) = service
        .post(
            &format!("/v1/cases/{case}/agree-deadline"),
            &supervisor,
            &json!({"resolution_due": "2027-03-08T10:00:00Z", "reason": "配件待到货",
                    "told_customer_via": "phone"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(problem_code(&refused), "not-escalated");
    service
        .act(
            case,
            "escalate-case",
            &agent,
            json!({"reason": "仓库未回复, 可能超时"}),
        )
        .await;
    let escalations = service.read("/v1/worklists/escalations", &supervisor).await;
    assert_eq!(items(&escalations).len(), 1, "{escalations}");
    assert_eq!(items(&escalations)[0]["detail"], "supervisor");
    // Escalated, it leaves the at-risk list for the escalations list.
    let at_risk = service.read("/v1/worklists/at-risk", &supervisor).await;
    assert!(items(&at_risk).is_empty(), "{at_risk}");
    service
        .act(
            case,
            "agree-deadline",
            &supervisor,
            json!({"resolution_due": "2027-03-08T10:00:00Z", "reason": "配件待到货",
                   "told_customer_via": "phone"}),
        )
        .await;
    let escalations = service.read("/v1/worklists/escalations", &supervisor).await;
    assert!(items(&escalations).is_empty(), "{escalations}");
    let view = service
        .read(&format!("/v1/cases/{case}"), &supervisor)
        .await;
    assert_eq!(view["sla"]["resolution_due"], "2027-03-08T10:00:00Z");
    assert_eq!(view["sla"]["agreed_by"], "lead-zhang");

    // The warehouse answers; the case closes once the customer was told
    // the result.
    service
        .act(
            case,
            "record-department-response",
            &supervisor,
            json!({"handoff_id": handoff, "response": "少发一件, 已补发"}),
        )
        .await;
    let handoffs = service.read("/v1/worklists/handoffs", &supervisor).await;
    assert!(items(&handoffs).is_empty(), "{handoffs}");
    let close = json!({"solution": "补发缺件", "resolution": "resolved"});
    let (status, _, refused) = service
        .post(&format!("/v1/cases/{case}/close-case"), &agent, &close)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(problem_code(&refused), "result-not-told");
    service
        .act(
            case,
            "inform-customer",
            &agent,
            json!({"channel": "phone", "summary": "缺件已补发", "about": "result"}),
        )
        .await;
    service.act(case, "close-case", &agent, close).await;

    // A revisit is due; the customer scores it low and complains: a
    // follow-up for the case's agent.
    let revisit = Uuid::new_v4();
    service
        .act(
            case,
            "schedule-revisit",
            &agent,
            json!({"revisit_id": revisit, "kind": "after_resolution",
                   "due_at": "2027-03-05T02:00:00Z"}),
        )
        .await;
    let revisits = service
        .read(
            "/v1/worklists/revisits?owner=agent-li&due_before=2027-03-06T00:00:00Z",
            &agent,
        )
        .await;
    assert_eq!(items(&revisits).len(), 1, "{revisits}");
    assert_eq!(items(&revisits)[0]["detail"], "after_resolution");
    let recorded = service
        .act(
            case,
            "record-revisit",
            &agent,
            json!({"revisit_id": revisit,
                   "outcome": {"kind": "scored", "score": 2, "attitude": 4, "skill": 2},
                   "complaint": "补发太慢"}),
        )
        .await;
    assert!(recorded["position"].as_u64().is_some(), "{recorded}");
    let revisits = service.read("/v1/worklists/revisits", &agent).await;
    assert!(items(&revisits).is_empty(), "{revisits}");
    let follow_ups = service
        .read("/v1/worklists/follow-ups?owner=agent-li", &agent)
        .await;
    assert_eq!(items(&follow_ups).len(), 1, "{follow_ups}");
    let follow_up = &items(&follow_ups)[0];
    assert_eq!(follow_up["detail"], "complaint: 补发太慢");
    let follow_up_id = follow_up["item_id"].as_str().unwrap().to_owned();
    // Another agent sees the list with the free text redacted, not the
    // other way round: nothing here carries a number, so it reads the same.
    let theirs = service
        .read("/v1/worklists/follow-ups?owner=agent-wu", &agent)
        .await;
    assert!(items(&theirs).is_empty(), "{theirs}");
    service
        .act(
            case,
            "close-follow-up",
            &agent,
            json!({"follow_up_id": follow_up_id, "outcome": "致歉并补偿运费, 客户接受"}),
        )
        .await;
    let follow_ups = service.read("/v1/worklists/follow-ups", &agent).await;
    assert!(items(&follow_ups).is_empty(), "{follow_ups}");

    // The weekly revisit report for the week of Monday 1 March, and the
    // monthly complaint table for March.
    let weekly = service
        .read(
            "/v1/reports/revisits-weekly?from=2027-03-01&until=2027-03-07",
            &supervisor,
        )
        .await;
    let rows = weekly["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{weekly}");
    assert_eq!(rows[0]["week"], "2027-03-01");
    assert_eq!(rows[0]["agent"], "agent-li");
    assert_eq!(rows[0]["revisits"], 1);
    assert_eq!(rows[0]["average"], 2.0);
    assert_eq!(rows[0]["average_attitude"], 4.0);
    assert_eq!(rows[0]["average_skill"], 2.0);
    assert_eq!(rows[0]["low_scores"], 1);
    let next_week = service
        .read(
            "/v1/reports/revisits-weekly?from=2027-03-08&until=2027-03-14",
            &supervisor,
        )
        .await;
    assert!(
        next_week["rows"].as_array().unwrap().is_empty(),
        "{next_week}"
    );
    let complaints = service
        .read(
            "/v1/reports/complaints?from=2027-03-01&until=2027-03-31",
            &supervisor,
        )
        .await;
    let rows = complaints["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{complaints}");
    assert_eq!(rows[0]["month"], "2027-03");
    assert_eq!(rows[0]["case"], case.to_string());
    assert_eq!(rows[0]["problem"], "complaint: 补发太慢");
    assert_eq!(rows[0]["solution"], "补发缺件");
    assert_eq!(rows[0]["status"], "closed");
    let handoffs = service
        .read(
            "/v1/reports/handoffs?from=2027-03-01&until=2027-03-31",
            &supervisor,
        )
        .await;
    let rows = handoffs["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{handoffs}");
    assert_eq!(rows[0]["department"], "warehouse");
    assert_eq!(rows[0]["escalated"], 1, "{handoffs}");
    let (status, _, refused) = service
        .send(
            Method::GET,
            "/v1/reports/complaints?from=2027-03-31&until=2027-03-01",
            &supervisor,
            &[],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["field"], "until");

    // Everything the customer was told is in the case's history.
    let history = service
        .read(&format!("/v1/cases/{case}/history"), &supervisor)
        .await;
    let told: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "CustomerInformed")
        .map(|e| e["data"]["summary"].as_str().unwrap())
        .collect();
    assert_eq!(told.len(), 3, "{told:?}");
    assert!(told[0].contains("warehouse"), "{told:?}");
    assert!(told[1].contains("2027-03-08T10:00:00+00:00"), "{told:?}");
    assert_eq!(told[2], "缺件已补发");
}
