//! 客户信息卡: a customer known by their phone number however it is
//! written, with every case, call, refund and repair of theirs, masked;
//! found by number or buyer id by those who may.

use aftersales_domain::model::Category;
use aftersales_domain::Role;
use aftersales_tests::{on_both_backends, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{call, Service};

on_both_backends!(a_customer_s_card_gathers_their_cases_calls_and_repairs);

async fn a_customer_s_card_gathers_their_cases_calls_and_repairs(db: TestDb) {
    let service = Service::start(db).await;
    let first = service.register(Category::Logistics).await;
    // The same customer, their number written another way.
    let mut again = service.registration_body(Category::ProductQuality);
    again["customer"]["phone"] = json!("+86 139-1234-5678");
    let (status, _, answer) = service.post("/v1/cases", &service.agent, &again).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let second = answer["id"].as_str().unwrap().to_owned();
    let (status, _, _) = service
        .post(
            &format!("/v1/cases/{first}/log-call"),
            &service.agent,
            &call("13912345678"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let tech = service
        .access
        .create_key(
            "tech-sun",
            Role::Technician,
            None,
            aftersales_api::Naming::New,
        )
        .await
        .unwrap()
        .token;
    let (status, _, repair) = service
        .post(
            "/v1/repairs",
            &tech,
            &json!({"case_id": first, "serial_outside": "SN-9", "tier": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{repair}");
    let head = service.store.head().await.unwrap().to_string();
    let read = |path: String, token: String| {
        let (service, head) = (&service, head.clone());
        async move {
            let (status, _, body) = service
                .send(
                    Method::GET,
                    &path,
                    &token,
                    &[("x-min-log-position", &head)],
                    None,
                )
                .await;
            (status, body)
        }
    };

    let (status, found) = read(
        "/v1/customers?phone=13912345678".into(),
        service.supervisor.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let customers = found["customers"].as_array().unwrap();
    assert_eq!(customers.len(), 1, "{found}");
    assert_eq!(customers[0]["cases"], 2);
    assert_eq!(customers[0]["customer_id"], json!(first.to_string()));
    assert_eq!(customers[0]["phone"], "139****5678");
    let (_, by_buyer) = read(
        "/v1/customers?buyer_id=tb_lina88".into(),
        service.supervisor.clone(),
    )
    .await;
    assert_eq!(by_buyer["customers"], found["customers"]);

    let (status, card) = read(format!("/v1/customers/{first}"), service.supervisor.clone()).await;
    assert_eq!(status, StatusCode::OK, "{card}");
    let cases: Vec<Value> = card["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| case["case_id"].clone())
        .collect();
    assert_eq!(cases, vec![json!(first.to_string()), json!(second)]);
    assert_eq!(card["calls"], 1);
    assert_eq!(card["open_cases"], 2);
    assert_eq!(card["repairs"][0]["serial_outside"], "SN-9");
    assert!(!card.to_string().contains("13912345678"), "masked: {card}");

    // Another agent cannot tell from a search that she is a customer; the
    // agent of her cases can.
    let (_, theirs) = read(
        "/v1/customers?phone=13912345678".into(),
        service.other_agent.clone(),
    )
    .await;
    assert_eq!(theirs["customers"], json!([]));
    let (_, own) = read(
        "/v1/customers?phone=13912345678".into(),
        service.agent.clone(),
    )
    .await;
    assert_eq!(own["customers"].as_array().unwrap().len(), 1);

    let (status, _) = service.get("/v1/customers", &service.supervisor).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = service
        .get(&format!("/v1/customers/{first}"), &service.finance)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = service
        .get(&format!("/v1/customers/{second}"), &service.supervisor)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a card's id is its first case's"
    );
}
