//! Unpaid orders, repair orders and access grants read back by those who
//! act on them: one at a time with its ETag, and listed by status, paged.

use aftersales_api::{Limits, Naming};
use aftersales_domain::Role;
use aftersales_tests::{on_both_backends, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{problem_code, Service};

on_both_backends!(
    a_technician_reads_back_the_repairs_they_work_on,
    unpaid_orders_and_access_grants_are_read_by_those_who_may,
    a_sampling_audit_is_read_back_customer_by_customer,
    the_day_s_unpaid_orders_are_imported_line_by_line_and_only_once
);

impl Service {
    pub(super) async fn key(&self, name: &str, role: Role) -> String {
        self.access
            .create_key(name, role, None, Naming::New)
            .await
            .unwrap()
            .token
    }

    /// Sends a command and reads back the resource once the read models
    /// reflect it: the view and its ETag.
    async fn act_and_read(&self, path: &str, token: &str, body: Value) -> (Value, String) {
        let (status, _, answer) = self.post(path, token, &body).await;
        assert!(status.is_success(), "{path}: {status} {answer}");
        let id = answer["id"].as_str().unwrap();
        let collection = path.split('/').nth(2).unwrap();
        let position = answer["position"].as_u64().unwrap().to_string();
        let (status, headers, view) = self
            .send(
                Method::GET,
                &format!("/v1/{collection}/{id}"),
                token,
                &[("x-min-log-position", &position)],
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{view}");
        let etag = headers["etag"].to_str().unwrap().to_owned();
        (view, etag)
    }
}

fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().unwrap().clone()
}

async fn a_technician_reads_back_the_repairs_they_work_on(db: TestDb) {
    let service = Service::start(db).await;
    let tech = service.key("tech-sun", Role::Technician).await;
    let mut repairs = Vec::new();
    for serial in ["SN-1", "SN-2", "SN-3"] {
        let body = json!({"serial_outside": serial, "tier": 2, "accessories": ["电源线"]});
        let (view, etag) = service.act_and_read("/v1/repairs", &tech, body).await;
        assert_eq!(view["resource"], "repair");
        assert_eq!(view["status"], "received");
        assert_eq!(view["serial_outside"], serial);
        assert_eq!(view["tier"], 2);
        assert_eq!(view["created_by"], "tech-sun");
        assert_eq!(etag, format!("\"{}\"", view["revision"]));
        repairs.push(view["id"].as_str().unwrap().to_owned());
    }
    let check = json!({"serial_inside": "SN-1", "seal_intact": true, "liquid_damage": false,
                       "unauthorised_repair": false});
    let (checked, _) = service
        .act_and_read(
            &format!("/v1/repairs/{}/record-intake-check", repairs[0]),
            &tech,
            check,
        )
        .await;
    assert_eq!(checked["status"], "checked");
    assert_eq!(checked["serial_matches"], true);

    // Listed by status, and paged oldest first.
    let (status, list) = service.get("/v1/repairs?status=checked", &tech).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let ids: Vec<Value> = items(&list).iter().map(|r| r["id"].clone()).collect();
    assert_eq!(ids, vec![json!(repairs[0])]);
    let (_, first) = service.get("/v1/repairs?limit=2", &tech).await;
    assert_eq!(items(&first).len(), 2);
    let next = first["next"].as_str().unwrap();
    // A repair received while the pages are read comes last, once.
    let body = json!({"serial_outside": "SN-4", "tier": 1});
    let (latest, _) = service.act_and_read("/v1/repairs", &tech, body).await;
    repairs.push(latest["id"].as_str().unwrap().to_owned());
    let (_, second) = service
        .get(&format!("/v1/repairs?limit=3&cursor={next}"), &tech)
        .await;
    let paged: Vec<Value> = items(&first)
        .into_iter()
        .chain(items(&second))
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(
        paged,
        repairs.iter().map(|id| json!(id)).collect::<Vec<_>>()
    );
    assert!(second["next"].is_null());

    let (status, body) = service.get("/v1/repairs?status=fixed", &tech).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "status");
    // Finance does not act on repairs; a key limited to a case category
    // reads cases alone.
    let (status, body) = service.get("/v1/repairs", &service.finance).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = service
        .get(
            &format!("/v1/repairs/{}", repairs[0]),
            &service.courier_feed,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = service
        .get(&format!("/v1/repairs/{}", uuid::Uuid::new_v4()), &tech)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem_code(&body), "not-found");
}

async fn unpaid_orders_and_access_grants_are_read_by_those_who_may(db: TestDb) {
    let service = Service::start(db).await;
    let order = json!({"order_no": "TB2026001", "buyer_id": "tb_wangxm",
                       "ordered_at": "2026-03-01T02:00:00Z",
                       "amount": {"minor": 20000, "currency": "CNY"}});
    let (view, _) = service
        .act_and_read("/v1/unpaid-orders", &service.agent, order)
        .await;
    assert_eq!(view["status"], "open");
    assert_eq!(view["buyer_id"], "tb_wangxm", "the agent's own order");
    let id = view["id"].as_str().unwrap().to_owned();
    let payment = json!({"paid_at": "2026-03-01T05:00:00Z",
                         "amount": {"minor": 20000, "currency": "CNY"}});
    let (paid, _) = service
        .act_and_read(
            &format!("/v1/unpaid-orders/{id}/record-payment"),
            &service.finance,
            payment,
        )
        .await;
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["paid"]["minor"], 20000);
    assert_ne!(paid["buyer_id"], "tb_wangxm", "masked for others: {paid}");
    let (_, open) = service
        .get("/v1/unpaid-orders?status=open", &service.supervisor)
        .await;
    assert!(items(&open).is_empty(), "{open}");
    let (_, paid_list) = service
        .get("/v1/unpaid-orders?status=paid", &service.supervisor)
        .await;
    assert_eq!(items(&paid_list).len(), 1);

    // An agent sees the grants they asked for; supervisors see every one.
    let request = json!({"customer": "13912345678", "purpose": "回访核实地址"});
    let (grant, _) = service
        .act_and_read("/v1/access-grants", &service.agent, request)
        .await;
    assert_eq!(grant["status"], "requested");
    assert_eq!(grant["customer"], "13912345678");
    let grant_id = grant["id"].as_str().unwrap().to_owned();
    let (status, _) = service
        .get(
            &format!("/v1/access-grants/{grant_id}"),
            &service.other_agent,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, theirs) = service.get("/v1/access-grants", &service.other_agent).await;
    assert!(items(&theirs).is_empty(), "{theirs}");
    let (approved, _) = service
        .act_and_read(
            &format!("/v1/access-grants/{grant_id}/approve-access"),
            &service.supervisor,
            json!({"valid_for_hours": 2}),
        )
        .await;
    assert_eq!(approved["status"], "granted");
    assert_eq!(approved["decided_by"], "lead-zhang");
    assert_ne!(
        approved["customer"], "13912345678",
        "masked for the supervisor"
    );
    let (_, all) = service
        .get("/v1/access-grants?status=granted", &service.supervisor)
        .await;
    assert_eq!(items(&all).len(), 1, "{all}");
}

async fn a_sampling_audit_is_read_back_customer_by_customer(db: TestDb) {
    let service = Service::start(db).await;
    let population: Vec<String> = (0..60).map(|i| format!("1380000{i:04}")).collect();
    let draw = json!({"month": "2026-03", "seed": 7, "population": population, "size": 50});
    let (audit, _) = service
        .act_and_read("/v1/sampling-audits", &service.supervisor, draw)
        .await;
    assert_eq!(audit["resource"], "sampling_audit");
    assert_eq!(audit["status"], "open");
    assert_eq!(audit["month"], "2026-03");
    let customers = audit["customers"].as_array().unwrap();
    assert_eq!(customers.len(), 50);
    let first = customers[0]["customer"].as_str().unwrap().to_owned();
    assert!(population.contains(&first), "the drawer sees the numbers");
    let id = audit["id"].as_str().unwrap().to_owned();

    // Friday 2026-03-20 09:30 in Shanghai: within the calling window.
    let call = json!({"customer": first, "called_at": "2026-03-20T01:30:00Z",
                      "outcome": {"kind": "answered", "score": 4, "reason": "等待时间长"},
                      "agent": "agent-li"});
    let (called, _) = service
        .act_and_read(
            &format!("/v1/sampling-audits/{id}/record-audit-call"),
            &service.agent,
            call,
        )
        .await;
    let customer = &called["customers"][0];
    assert_eq!(customer["calls"], 1, "{called}");
    assert_eq!(customer["score"], 4);
    assert_eq!(customer["agent"], "agent-li");
    assert_ne!(
        customer["customer"], first,
        "masked for the agent: {customer}"
    );

    let (_, open) = service
        .get(
            "/v1/sampling-audits?status=open&month=2026-03",
            &service.supervisor,
        )
        .await;
    assert_eq!(items(&open).len(), 1, "{open}");
    let (_, closed) = service
        .get("/v1/sampling-audits?status=closed", &service.supervisor)
        .await;
    assert!(items(&closed).is_empty());
    let (status, _) = service.get("/v1/sampling-audits", &service.finance).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// 催款导单: the day's export registered in one call, line by line; the same
/// file again registers nothing new; bad lines are refused with their
/// reason and never stop the good ones.
async fn the_day_s_unpaid_orders_are_imported_line_by_line_and_only_once(db: TestDb) {
    // Each import costs what a report replay does; the default burst holds
    // four, and this test sends five within a fraction of a second.
    let limits = Limits {
        burst: 2_000.0,
        ..Limits::default()
    };
    let service = Service::start_with(db, limits).await;
    let csv = "订单号,买家ID,下单时间,金额\n\
               TB90001,tb_zhang,2026-03-01 10:00:00,199.00\n\
               TB90002,tb_li,2026-03-01T03:30:00Z,\"1,299.5\"\n\
               TB90003,tb_wu,yesterday,88.00\n\
               TB90004,tb_zhao,2026-03-01 11:00:00,-5\n";
    let import = |body: &'static str, content_type: &'static str| {
        let service = &service;
        async move {
            let answer = service
                .http
                .post(format!("{}/v1/unpaid-orders/import", service.base))
                .bearer_auth(&service.agent)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = answer.status();
            (status, answer.json::<Value>().await.unwrap())
        }
    };
    let (status, report) = import(csv, "text/csv; charset=utf-8").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        (
            &report["registered"],
            &report["already_registered"],
            &report["refused"]
        ),
        (&json!(2), &json!(0), &json!(2)),
        "{report}"
    );
    let lines = report["lines"].as_array().unwrap();
    assert_eq!(lines[2]["line"], 4);
    assert_eq!(lines[2]["field"], "ordered_at");
    assert_eq!(lines[3]["field"], "amount");
    let id = lines[1]["id"].as_str().unwrap().to_owned();

    let (_, again) = import(csv, "text/csv").await;
    assert_eq!(
        (
            &again["registered"],
            &again["already_registered"],
            &again["refused"]
        ),
        (&json!(0), &json!(2), &json!(2)),
        "{again}"
    );
    assert_eq!(
        again["lines"][1]["id"],
        json!(id),
        "the same order, the same id"
    );

    // Read back: ordered at 10:00 in Shanghai is 02:00 UTC; 1,299.5 yuan.
    let head = service.store.head().await.unwrap().to_string();
    let (status, _, order) = service
        .send(
            Method::GET,
            &format!("/v1/unpaid-orders/{id}"),
            &service.supervisor,
            &[("x-min-log-position", &head)],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["amount"]["minor"], 129_950);
    let (_, first) = service
        .get("/v1/unpaid-orders?order_no=TB90001", &service.supervisor)
        .await;
    assert_eq!(items(&first)[0]["ordered_at"], "2026-03-01T02:00:00Z");

    // The export as an Excel workbook, a title above its header.
    let mut row = serde_json::Map::new();
    row.insert("order_no".into(), json!("TB90005"));
    row.insert("buyer_id".into(), json!("tb_chen"));
    row.insert("ordered_at".into(), json!("2026-03-02 09:00:00"));
    row.insert("amount".into(), json!(88.5));
    let workbook =
        aftersales_projections::workbook::workbook(&aftersales_projections::TableDocument {
            name: "unpaid".into(),
            title: "待付款订单".into(),
            columns: ["order_no", "buyer_id", "ordered_at", "amount"]
                .map(String::from)
                .to_vec(),
            rows: vec![row],
            position: None,
        })
        .unwrap();
    let answer = service
        .http
        .post(format!("{}/v1/unpaid-orders/import", service.base))
        .bearer_auth(&service.agent)
        .header(
            "content-type",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        .body(workbook)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let report: Value = answer.json().await.unwrap();
    assert_eq!(report["registered"], 1, "{report}");
    let head = service.store.head().await.unwrap().to_string();
    let (_, _, listed) = service
        .send(
            Method::GET,
            "/v1/unpaid-orders?order_no=TB90005",
            &service.supervisor,
            &[("x-min-log-position", &head)],
            None,
        )
        .await;
    assert_eq!(items(&listed)[0]["amount"]["minor"], 8_850, "{listed}");
    assert_eq!(items(&listed)[0]["ordered_at"], "2026-03-02T01:00:00Z");

    let (status, body) = import("order_no,amount\nTB1,1.00\n", "text/csv").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "file");
    let (status, _) = import(csv, "application/json").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}
