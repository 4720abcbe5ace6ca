//! The conventions a client generator and an integrator rely on, through
//! real HTTP: errors that name the field and the expected form, unknown
//! filter values refused with the allowed ones, a 405 that says so, the
//! rate-limit headers on every answer, and metrics labelled by command.

use aftersales_api::Limits;
use aftersales_domain::model::Category;
use aftersales_tests::{on_both_backends, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{call, problem_code, sample, Service};

on_both_backends!(
    bad_input_is_refused_naming_the_field_and_what_it_takes,
    every_answer_tells_the_caller_its_rate_and_what_is_left,
    a_command_is_counted_under_its_own_route,
    browsers_on_the_origins_configured_may_call_the_api,
    a_report_is_an_excel_workbook_with_the_forms_headings
);

async fn bad_input_is_refused_naming_the_field_and_what_it_takes(db: TestDb) {
    let service = Service::start(db).await;
    let token = &service.supervisor;

    // A typo in a filter value is not an empty list.
    let (status, body) = service.get("/v1/cases?status=opened", token).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "status");
    let detail = body["detail"].as_str().unwrap();
    for allowed in ["open", "waiting", "closed", "merged"] {
        assert!(detail.contains(allowed), "{detail}");
    }
    let (status, _) = service.get("/v1/cases?status=waiting", token).await;
    assert_eq!(status, StatusCode::OK);

    // A malformed time names the field and the form it takes.
    let (status, body) = service.get("/v1/cases?created_from=2026-03", token).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "created_from");
    assert!(
        body["detail"].as_str().unwrap().contains("RFC 3339"),
        "{body}"
    );

    // A missing field is named with its path, even nested.
    let mut registration = service.registration_body(Category::Logistics);
    registration["customer"]
        .as_object_mut()
        .unwrap()
        .remove("phone");
    let (status, _, body) = service.post("/v1/cases", token, &registration).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "customer.phone", "{body}");
    let mut registration = service.registration_body(Category::Logistics);
    registration.as_object_mut().unwrap().remove("category");
    let (_, _, body) = service.post("/v1/cases", token, &registration).await;
    assert_eq!(body["field"], "category", "{body}");

    // A method the resource does not answer is a 405 that says which do.
    let (status, headers, body) = service
        .send(Method::DELETE, "/v1/cases", token, &[], None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(problem_code(&body), "method-not-allowed");
    let allow = headers["allow"].to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");

    // The case view's fields read well in a client.
    let id = service.register(Category::Logistics).await;
    let view = service.view(id, token, 0).await;
    assert!(view.get("goods_return").is_some(), "{view}");
    assert!(view.get("return_").is_none(), "{view}");

    // Unless origins are configured, no page on another origin may read
    // an answer.
    let answer = service
        .http
        .get(format!("{}/v1/cases", service.base))
        .bearer_auth(token)
        .header("origin", "https://console.example.com")
        .send()
        .await
        .unwrap();
    assert!(!answer.headers().contains_key("access-control-allow-origin"));
}

/// The IETF rate-limit fields: `RateLimit-Policy` (the quota and its
/// window) and `RateLimit` (what is left, and when the bucket is full).
async fn every_answer_tells_the_caller_its_rate_and_what_is_left(db: TestDb) {
    let limits = Limits {
        requests_per_second: 1.0,
        burst: 5.0,
        ..Limits::default()
    };
    let service = Service::start_with(db, limits).await;
    let remaining = |headers: &reqwest::header::HeaderMap| -> u64 {
        let now = headers["ratelimit"].to_str().unwrap();
        let r = now
            .split(';')
            .find_map(|part| part.strip_prefix("r="))
            .unwrap_or_else(|| panic!("{now}"));
        r.parse().unwrap()
    };
    let (status, headers, _) = service
        .send(Method::GET, "/v1/reports", &service.agent, &[], None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["ratelimit-policy"], "\"default\";q=5;w=5");
    let first = remaining(&headers);
    assert_eq!(first, 4);
    // An answer refused by a rule carries them too.
    let (status, headers, _) = service
        .post(
            &format!("/v1/cases/{}/log-call", uuid::Uuid::new_v4()),
            &service.agent,
            &call("13800000000"),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(remaining(&headers) < first);
    let mut refused = None;
    for _ in 0..10 {
        let (status, headers, _) = service
            .send(Method::GET, "/v1/reports", &service.agent, &[], None)
            .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(headers);
            break;
        }
    }
    let headers = refused.expect("the sixth request in a second is refused");
    assert_eq!(remaining(&headers), 0);
    assert!(headers.contains_key("retry-after"));
    // Another key's bucket is its own.
    let (status, headers, _) = service
        .send(Method::GET, "/v1/reports", &service.supervisor, &[], None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(remaining(&headers), 4);
    // Without a key there is no key's rate to tell.
    let (_, headers, _) = service.send(Method::GET, "/healthz", "", &[], None).await;
    assert!(!headers.contains_key("ratelimit"));
}

async fn a_command_is_counted_under_its_own_route(db: TestDb) {
    let service = Service::start(db).await;
    let id = service.register(Category::Logistics).await;
    let path = format!("/v1/cases/{id}/log-call");
    let (status, _, body) = service
        .post(&path, &service.agent, &call("13800000000"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Refused by a rule: counted under the same command.
    let (status, _, _) = service
        .post(&path, &service.agent, &json!({"number": 1}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // An unknown command is not a label of its own.
    let (status, _, _) = service
        .post(
            &format!("/v1/cases/{id}/no-such-command"),
            &service.agent,
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let text = service
        .http
        .get(format!("{}/metrics", service.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |route: &str, status: u16| {
        sample(
            &text,
            &format!(
                r#"aftersales_http_requests_total{{method="POST",route="{route}",status="{status}"}}"#
            ),
        )
    };
    assert_eq!(count("/v1/cases/{id}/log-call", 200), Some(1.0), "{text}");
    assert_eq!(count("/v1/cases/{id}/log-call", 422), Some(1.0), "{text}");
    assert_eq!(count("/v1/cases/{id}/{action}", 404), Some(1.0), "{text}");
    assert!(!text.contains("no-such-command"), "{text}");
}

/// CORS: off unless configured; then a preflight from a configured origin
/// is answered with what it may send and read, and any other origin's is
/// not.
async fn browsers_on_the_origins_configured_may_call_the_api(db: TestDb) {
    let console = "https://console.example.com";
    let preflight = |service: &Service, origin: &str| {
        service
            .http
            .request(Method::OPTIONS, format!("{}/v1/cases", service.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,idempotency-key",
            )
            .send()
    };
    let service = Service::start_with_cors(db, &[console]).await;
    let answer = preflight(&service, console).await.unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
    let headers = answer.headers();
    assert_eq!(headers["access-control-allow-origin"], console);
    let allowed = headers["access-control-allow-headers"].to_str().unwrap();
    assert!(allowed.contains("idempotency-key"), "{allowed}");
    assert!(!headers.contains_key("access-control-allow-credentials"));

    let answer = preflight(&service, "https://evil.example.net")
        .await
        .unwrap();
    assert!(!answer.headers().contains_key("access-control-allow-origin"));

    // A simple read from the console's page may read the answer and its
    // headers.
    let answer = service
        .http
        .get(format!("{}/v1/cases", service.base))
        .bearer_auth(&service.agent)
        .header("origin", console)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["access-control-allow-origin"], console);
    let exposed = answer.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    assert!(exposed.contains("x-log-position"), "{exposed}");
}

/// 工作日志 as the team keeps it: an Excel workbook with Chinese headings,
/// masked as the JSON is, and a customer's name that looks like a formula
/// is text.
async fn a_report_is_an_excel_workbook_with_the_forms_headings(db: TestDb) {
    use std::io::Read as _;
    let service = Service::start(db).await;
    let mut registration = service.registration_body(Category::Logistics);
    registration["customer"]["name"] = json!("=HYPERLINK(\"http://x\",\"点我\")");
    let (status, _, answer) = service
        .post("/v1/cases", &service.agent, &registration)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let position = answer["position"].as_u64().unwrap().to_string();
    for (query, accept) in [
        ("?format=xlsx", "application/json"),
        (
            "",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    ] {
        let answer = service
            .http
            .get(format!("{}/v1/reports/work-log{query}", service.base))
            .bearer_auth(&service.supervisor)
            .header("accept", accept)
            .header("x-min-log-position", &position)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(
            answer.headers()["content-type"],
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        );
        assert!(answer.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("work-log.xlsx"));
        let bytes = answer.bytes().await.unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
        let mut part = |name: &str| {
            let mut text = String::new();
            archive
                .by_name(name)
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            text
        };
        let strings = part("xl/sharedStrings.xml");
        for heading in ["日期", "工单号", "客户", "电话", "经办人"] {
            assert!(strings.contains(heading), "{heading}: {strings}");
        }
        assert!(!strings.contains("13912345678"), "masked: {strings}");
        let sheet = part("xl/worksheets/sheet1.xml");
        assert!(!sheet.contains("<f>"), "no formula: {sheet}");
    }
    let (status, body) = service
        .get("/v1/reports/work-log?format=pdf", &service.supervisor)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "format");
}
