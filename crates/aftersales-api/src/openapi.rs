//! The OpenAPI 3.1 document at `/v1/openapi.json`, generated from the same
//! types and command tables the routes use: a command added to the domain
//! appears here with its body's schema without anyone writing it down.

use aftersales_commands::import::ImportReport;
use aftersales_domain::audit::SamplingAudit;
use aftersales_domain::case::Case;
use aftersales_domain::grant::AccessGrant;
use aftersales_domain::reminder::UnpaidOrder;
use aftersales_domain::repair::RepairOrder;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

use crate::clock::{ClockMoved, ClockReading, SetClock};
use crate::commands::{kebab, CommandAccepted, Resource};
use crate::customers::{CustomerCard, CustomerMatches, CustomerQuery};
use crate::error::Problem;
use crate::feed::{FeedPage, FeedQuery};
use crate::policy::{PolicyApplied, PolicyHistory, PolicyQuery, PolicyRecord};
use crate::reads::{
    BalanceQuery, CaseList, CaseListQuery, ChangedCaseList, ChangedCasesQuery, HistoryEntry,
    LedgerCheckAnswer, ReportBody, ReportEntry, ReportQuery, XLSX,
};
use crate::resources::{
    AccessGrantQuery, RepairQuery, ResourceList, SamplingAuditQuery, UnpaidOrderQuery,
};
use crate::visibility::{LOG_POSITION, MIN_LOG_POSITION};
use crate::webhooks::{
    ChangeWebhook, CreateWebhook, DeliveryLog, DeliveryQuery, ReplayWebhook, SecretAdded,
    WebhookCreated, WebhookHistory, WebhookList, WebhookView,
};
use crate::worklists::{Handover, HandoverQuery, Worklist, WorklistQuery};

/// The schema name of the error body (RFC 9457 problem details), as
/// [`Problem`] names it.
const PROBLEM_DETAILS: &str = "ProblemDetails";

pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|settings| settings.definitions_path = "/components/schemas".into())
        .into_generator();
    let mut paths = Map::new();
    commands::<Case>(&mut generator, &mut paths);
    commands::<UnpaidOrder>(&mut generator, &mut paths);
    commands::<SamplingAudit>(&mut generator, &mut paths);
    commands::<RepairOrder>(&mut generator, &mut paths);
    commands::<AccessGrant>(&mut generator, &mut paths);
    reads(&mut generator, &mut paths);
    imports(&mut generator, &mut paths);
    policy(&mut generator, &mut paths);
    clock(&mut generator, &mut paths);
    webhooks(&mut generator, &mut paths);
    describe_response_headers(&mut paths);
    generator.subschema_for::<Problem>();
    let schemas = generator.take_definitions(true);
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "aftersales",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The after-sales service: cases, calls, parcels, returns, refunds, approvals, \
                            payment reminders, revisits, sampling audits and repairs, as an event-sourced log. \
                            Errors are application/problem+json with a stable `type` per rule.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    });
    spell_out_any(&mut document);
    document
}

fn imports(generator: &mut SchemaGenerator, paths: &mut Map<String, Value>) {
    add(
        paths,
        "/v1/unpaid-orders/import",
        "post",
        json!({
            "operationId": "importUnpaidOrders",
            "summary": "Register the platform's export of unpaid orders (催款导单), line by line",
            "description": "Roles: agent, supervisor, integration. CSV with a header line naming order_no (订单号), \
                            buyer_id (买家ID), ordered_at (下单时间: RFC 3339, or YYYY-MM-DD HH:MM:SS in the shop's \
                            time zone) and amount (金额, in yuan); at most 5,000 lines. Each order's id follows from \
                            its number: importing a file again registers nothing new. Send it as text/csv, as the .xlsx media type, \
                            or as application/octet-stream.",
            "tags": ["unpaid-orders"],
            // One binary body: client generators take no CSV or workbook
            // media types, and the service tells the two apart by content.
            "requestBody": {"required": true, "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
            "responses": {"200": ok(generator.subschema_for::<ImportReport>().to_value()),
                          "default": problem()},
        }),
    );
}

fn policy(generator: &mut SchemaGenerator, paths: &mut Map<String, Value>) {
    let readers = "Roles: supervisor, auditor, admin.";
    add(
        paths,
        "/v1/policy",
        "get",
        json!({
            "operationId": "getPolicy",
            "summary": "The shop's policy in force, now or at a past time",
            "description": readers,
            "tags": ["policy"],
            "parameters": query_parameters::<PolicyQuery>(generator),
            "responses": {"200": ok(generator.subschema_for::<PolicyRecord>().to_value()),
                          "default": problem()},
        }),
    );
    add(
        paths,
        "/v1/policy",
        "put",
        json!({
            "operationId": "putPolicy",
            "summary": "Put a whole policy in force (recorded in the log as PolicyChanged)",
            "description": "Roles: admin. A policy that is already in force records nothing.",
            "tags": ["policy"],
            "requestBody": {"required": true, "content": {"application/json": {
                "schema": generator.subschema_for::<aftersales_domain::Policy>().to_value()}}},
            "responses": {"200": ok(generator.subschema_for::<PolicyApplied>().to_value()),
                          "default": problem()},
        }),
    );
    add(
        paths,
        "/v1/policy/history",
        "get",
        json!({
            "operationId": "policyHistory",
            "summary": "Every policy the shop put in force, oldest first",
            "description": readers,
            "tags": ["policy"],
            "responses": {"200": ok(generator.subschema_for::<PolicyHistory>().to_value()),
                          "default": problem()},
        }),
    );
}

fn clock(generator: &mut SchemaGenerator, paths: &mut Map<String, Value>) {
    add(
        paths,
        "/v1/clock",
        "get",
        json!({
            "operationId": "getClock",
            "summary": "What the service's clock reads, and whether the store is a sandbox",
            "tags": ["clock"],
            "responses": {"200": ok(generator.subschema_for::<ClockReading>().to_value()),
                          "default": problem()},
        }),
    );
    add(
        paths,
        "/v1/clock",
        "post",
        json!({
            "operationId": "setClock",
            "summary": "Set or advance a sandbox store's clock (forward only)",
            "description": "Roles: admin. A store that is not a sandbox answers 409 not-a-sandbox.",
            "tags": ["clock"],
            "requestBody": {"required": true, "content": {"application/json": {
                "schema": generator.subschema_for::<SetClock>().to_value()}}},
            "responses": {"200": ok(generator.subschema_for::<ClockMoved>().to_value()),
                          "default": problem()},
        }),
    );
}

fn webhooks(generator: &mut SchemaGenerator, paths: &mut Map<String, Value>) {
    let roles = "Roles: admin (every subscription), integration (its own).";
    let body = |schema: Value| json!({"required": true, "content": {"application/json": {"schema": schema}}});
    let secret_id = json!({"name": "secret_id", "in": "path", "required": true,
                           "schema": {"type": "string", "format": "uuid"}});
    let operations = [
        (
            "/v1/webhooks",
            "post",
            "createWebhook",
            "Subscribe a URL to the log's events; the answer shows its signing secret once",
            Some(generator.subschema_for::<CreateWebhook>().to_value()),
            (
                "201",
                generator.subschema_for::<WebhookCreated>().to_value(),
            ),
            vec![],
        ),
        (
            "/v1/webhooks",
            "get",
            "listWebhooks",
            "The subscriptions the caller manages",
            None,
            ("200", generator.subschema_for::<WebhookList>().to_value()),
            vec![],
        ),
        (
            "/v1/webhooks/{id}",
            "get",
            "getWebhook",
            "One subscription",
            None,
            ("200", generator.subschema_for::<WebhookView>().to_value()),
            vec![id_parameter()],
        ),
        (
            "/v1/webhooks/{id}",
            "patch",
            "changeWebhook",
            "Change a subscription's URL, filter or description, pause or resume it",
            Some(generator.subschema_for::<ChangeWebhook>().to_value()),
            ("200", generator.subschema_for::<WebhookView>().to_value()),
            vec![id_parameter()],
        ),
        (
            "/v1/webhooks/{id}",
            "delete",
            "deleteWebhook",
            "Delete a subscription for good, with its secrets",
            None,
            ("200", generator.subschema_for::<WebhookView>().to_value()),
            vec![id_parameter()],
        ),
        (
            "/v1/webhooks/{id}/secrets",
            "post",
            "addWebhookSecret",
            "Add a second signing secret for a rotation; both sign until one is removed",
            None,
            ("201", generator.subschema_for::<SecretAdded>().to_value()),
            vec![id_parameter()],
        ),
        (
            "/v1/webhooks/{id}/secrets/{secret_id}",
            "delete",
            "removeWebhookSecret",
            "Remove a signing secret (not the last one)",
            None,
            ("200", generator.subschema_for::<WebhookView>().to_value()),
            vec![id_parameter(), secret_id.clone()],
        ),
        (
            "/v1/webhooks/{id}/replay",
            "post",
            "replayWebhook",
            "Send every matching event again from a position or a time, in order",
            Some(generator.subschema_for::<ReplayWebhook>().to_value()),
            ("200", generator.subschema_for::<WebhookView>().to_value()),
            vec![id_parameter()],
        ),
        (
            "/v1/webhooks/{id}/deliveries",
            "get",
            "webhookDeliveries",
            "The subscription's delivery log, newest first",
            None,
            ("200", generator.subschema_for::<DeliveryLog>().to_value()),
            [
                vec![id_parameter()],
                query_parameters::<DeliveryQuery>(generator),
            ]
            .concat(),
        ),
        (
            "/v1/webhooks/{id}/history",
            "get",
            "webhookHistory",
            "Every change made to the subscription, with who made it and when",
            None,
            (
                "200",
                generator.subschema_for::<WebhookHistory>().to_value(),
            ),
            vec![id_parameter()],
        ),
    ];
    for (path, method, id, summary, request, (status, answer), parameters) in operations {
        let mut operation = json!({
            "operationId": id,
            "summary": summary,
            "description": roles,
            "tags": ["webhooks"],
            "parameters": parameters,
            "responses": {status: {"description": "OK", "content": {"application/json": {"schema": answer}}},
                          "default": problem()},
        });
        if let Some(request) = request {
            operation["requestBody"] = body(request);
        }
        add(paths, path, method, operation);
    }
}

/// Writes the schema that takes any value as `{}` rather than `true`: both
/// mean the same in JSON Schema, but client generators read only the
/// first (a field of free JSON, such as an event's data).
fn spell_out_any(schema: &mut Value) {
    match schema {
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                let holds_schemas = matches!(key.as_str(), "properties" | "$defs");
                match child {
                    Value::Bool(true) if matches!(key.as_str(), "items" | "not") => {
                        *child = json!({});
                    }
                    Value::Object(children) if holds_schemas => {
                        for grandchild in children.values_mut() {
                            if *grandchild == Value::Bool(true) {
                                *grandchild = json!({});
                            }
                            spell_out_any(grandchild);
                        }
                    }
                    Value::Array(list)
                        if matches!(key.as_str(), "anyOf" | "oneOf" | "allOf" | "prefixItems") =>
                    {
                        for item in list.iter_mut() {
                            if *item == Value::Bool(true) {
                                *item = json!({});
                            }
                            spell_out_any(item);
                        }
                    }
                    _ => spell_out_any(child),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(spell_out_any),
        _ => {}
    }
}

/// The reads that answer a resource's revision as its ETag.
const READ_WITH_REVISION: &[&str] = &[
    "/v1/cases/{id}",
    "/v1/unpaid-orders/{id}",
    "/v1/repairs/{id}",
    "/v1/sampling-audits/{id}",
    "/v1/access-grants/{id}",
];

/// Declares the headers answers carry: on every answer to a keyed request
/// the rate-limit fields and the correlation id; `ETag` where a resource's
/// revision is answered, `Location` on a create, `Retry-After` on a
/// problem that can be retried.
fn describe_response_headers(paths: &mut Map<String, Value>) {
    let text =
        |description: &str| json!({"description": description, "schema": {"type": "string"}});
    for (path, item) in paths.iter_mut() {
        let Some(operations) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in operations.iter_mut() {
            let keyed = operation.get("security") != Some(&json!([]));
            let creates = operation["responses"].get("201").is_some();
            // A resource read whole, or a command on one, answers its revision.
            let revisioned = creates
                || (method == "get" && READ_WITH_REVISION.contains(&path.as_str()))
                || (path.contains("{id}") && operation["requestBody"].is_object());
            let Some(responses) = operation["responses"].as_object_mut() else {
                continue;
            };
            for (status, response) in responses.iter_mut() {
                let headers = response
                    .as_object_mut()
                    .map(|response| response.entry("headers").or_insert_with(|| json!({})));
                let Some(headers) = headers.and_then(Value::as_object_mut) else {
                    continue;
                };
                headers.insert(
                    "X-Correlation-Id".to_owned(),
                    text("the request's correlation id, as the service's log and the events' metadata carry it"),
                );
                if keyed {
                    headers.insert(
                        "RateLimit-Policy".to_owned(),
                        text("the key's quota (`q`, the burst) and window in seconds (`w`), as `\"default\";q=400;w=2`"),
                    );
                    headers.insert(
                        "RateLimit".to_owned(),
                        text("what is left of the quota (`r`) and the seconds until it is whole again (`t`)"),
                    );
                }
                match status.as_str() {
                    "default" => {
                        headers.insert(
                            "Retry-After".to_owned(),
                            json!({"description": "seconds to wait, on a 429 or a 503 that can be retried",
                                   "schema": {"type": "integer", "minimum": 0}}),
                        );
                    }
                    "200" | "201" if revisioned => {
                        headers.insert(
                            "ETag".to_owned(),
                            text("the resource's revision, to send as If-Match"),
                        );
                    }
                    _ => {}
                }
                if status == "201" {
                    headers.insert(
                        "Location".to_owned(),
                        text("the path of the resource created"),
                    );
                }
            }
        }
    }
}

/// Adds an operation to a path, beside the path's other methods.
fn add(paths: &mut Map<String, Value>, path: &str, method: &str, operation: Value) {
    let item = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
    item[method] = operation;
}

fn problem() -> Value {
    json!({
        "description": "A problem (RFC 9457)",
        "content": {"application/problem+json": {"schema": {"$ref": format!("#/components/schemas/{PROBLEM_DETAILS}")}}},
    })
}

fn ok(schema: Value) -> Value {
    json!({"description": "OK", "content": {"application/json": {"schema": schema}}})
}

fn id_parameter() -> Value {
    json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}})
}

fn header(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "header", "required": false, "description": description,
           "schema": {"type": "string"}})
}

/// The query parameters of a query struct, from its schema's properties.
fn query_parameters<T: JsonSchema>(generator: &mut SchemaGenerator) -> Vec<Value> {
    let schema = generator.root_schema_for::<T>().to_value();
    schema["properties"]
        .as_object()
        .map(|properties| {
            properties
                .iter()
                .map(|(name, property)| {
                    let mut property = property.clone();
                    if let Some(object) = property.as_object_mut() {
                        object.remove("default");
                    }
                    json!({"name": name, "in": "query", "required": false, "schema": property})
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The variants of a command enum (`{"command": "LogCall", "data": …}`) as
/// (name, body schema).
fn variants<R: Resource>(generator: &mut SchemaGenerator) -> Vec<(String, Value)>
where
    R::Command: JsonSchema + Send + Sync,
    R::Event: Send + Sync,
{
    let reference = generator.subschema_for::<R::Command>().to_value();
    let name = reference["$ref"]
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .unwrap_or_default()
        .to_owned();
    let enum_schema = generator
        .definitions()
        .get(&name)
        .cloned()
        .unwrap_or(reference);
    enum_schema["oneOf"]
        .as_array()
        .map(|variants| {
            variants
                .iter()
                .filter_map(|variant| {
                    let tag = &variant["properties"]["command"];
                    let command = tag["const"].as_str().or_else(|| tag["enum"][0].as_str())?;
                    Some((command.to_owned(), variant["properties"]["data"].clone()))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn commands<R: Resource>(generator: &mut SchemaGenerator, paths: &mut Map<String, Value>)
where
    R::Command: JsonSchema + Send + Sync,
    R::Event: Send + Sync,
{
    let accepted = generator.subschema_for::<CommandAccepted>().to_value();
    let variants = variants::<R>(generator);
    // What a client may do with the id a create answers: every other
    // command of the resource (stateful API testers follow these).
    let links: Map<String, Value> = variants
        .iter()
        .filter(|(name, _)| name != R::CREATE)
        .map(|(name, _)| {
            let link = json!({"operationId": name, "parameters": {"id": "$response.body#/id"}});
            (name.clone(), link)
        })
        .collect();
    for (name, body) in variants {
        let roles: Vec<&str> = R::COMMANDS
            .iter()
            .find(|(command, _)| *command == name)
            .map(|(_, roles)| roles.iter().map(|r| r.as_str()).collect())
            .unwrap_or_default();
        let creates = name == R::CREATE;
        let (path, status, mut parameters) = if creates {
            (format!("/v1/{}", R::COLLECTION), "201", Vec::new())
        } else {
            (
                format!("/v1/{}/{{id}}/{}", R::COLLECTION, kebab(&name)),
                "200",
                vec![
                    id_parameter(),
                    header(
                        "If-Match",
                        "the ETag the caller saw; 412 if the resource moved on",
                    ),
                ],
            )
        };
        parameters.push(header(
            "Idempotency-Key",
            "a retry with the same key and body gets the first answer and appends nothing",
        ));
        let mut operation = json!({
            "operationId": name,
            "summary": name,
            "description": format!("Roles: {}.", roles.join(", ")),
            "tags": [R::COLLECTION],
            "parameters": parameters,
            "requestBody": {"required": true, "content": {"application/json": {"schema": body}}},
            "responses": {status: ok(accepted.clone()), "default": problem()},
        });
        if let Some(example) = crate::examples::request(&name) {
            operation["requestBody"]["content"]["application/json"]["example"] = example;
        }
        if creates {
            operation["responses"][status]["links"] = Value::Object(links.clone());
        }
        add(paths, &path, "post", operation);
    }
}

fn reads(generator: &mut SchemaGenerator, paths: &mut Map<String, Value>) {
    let case_list = generator.subschema_for::<CaseList>().to_value();
    let resource_list = generator.subschema_for::<ResourceList>().to_value();
    let resource = generator
        .subschema_for::<aftersales_projections::resources::ResourceView>()
        .to_value();
    let history = generator.subschema_for::<Vec<HistoryEntry>>().to_value();
    let reports = generator.subschema_for::<Vec<ReportEntry>>().to_value();
    let report = generator.subschema_for::<ReportBody>().to_value();
    let feed = generator.subschema_for::<FeedPage>().to_value();
    let worklist = generator.subschema_for::<Worklist>().to_value();
    let handover = generator.subschema_for::<Handover>().to_value();
    let grant = header(
        "X-Access-Grant",
        "an approved access grant of the caller's for this customer: personal data unmasked, and recorded",
    );
    // A read of the read models says the log position it reflects, and
    // may be asked to reflect one (a command's answer) at least.
    let get = |id: &str, summary: &str, mut parameters: Vec<Value>, schema: Value| {
        parameters.push(json!({"name": MIN_LOG_POSITION.as_str(), "in": "header", "required": false,
            "description": "wait until the read models reflect this log position (a command answers it as `position`), for 2 s at most; 503 read-models-behind after that",
            "schema": {"type": "integer", "format": "uint64", "minimum": 0}}));
        let mut answer = ok(schema);
        answer["headers"] = json!({LOG_POSITION.as_str(): {
            "description": "the log position the answer reflects at least",
            "schema": {"type": "integer", "format": "uint64", "minimum": 0}}});
        json!({"get": {
            "operationId": id,
            "summary": summary,
            "parameters": parameters,
            "responses": {"200": answer, "default": problem()},
        }})
    };
    let mut stream_parameters = query_parameters::<FeedQuery>(generator);
    stream_parameters.push(header("Last-Event-ID", "the last position seen"));
    let entries = [
        ("/v1/cases", get("listCases", "Cases, newest last, filtered and paged by cursor",
            query_parameters::<CaseListQuery>(generator), case_list)),
        ("/v1/incremental/cases", get("changedCases",
            "Cases changed after a log position, in the order of their last change (incremental export)",
            query_parameters::<ChangedCasesQuery>(generator),
            generator.subschema_for::<ChangedCaseList>().to_value())),
        ("/v1/unpaid-orders", get("listUnpaidOrders",
            "Unpaid orders under payment reminder (催款), oldest first, filtered and paged by cursor",
            query_parameters::<UnpaidOrderQuery>(generator), resource_list.clone())),
        ("/v1/unpaid-orders/{id}", get("getUnpaidOrder", "An unpaid order now; its revision is the ETag",
            vec![id_parameter()], resource.clone())),
        ("/v1/repairs", get("listRepairs",
            "Repair orders (返修), oldest first, filtered and paged by cursor",
            query_parameters::<RepairQuery>(generator), resource_list.clone())),
        ("/v1/repairs/{id}", get("getRepair", "A repair order now; its revision is the ETag",
            vec![id_parameter()], resource.clone())),
        ("/v1/customers", get("findCustomers",
            "Customers found by phone number or buyer id (masked; others' only for supervisors and admins)",
            query_parameters::<CustomerQuery>(generator),
            generator.subschema_for::<CustomerMatches>().to_value())),
        ("/v1/customers/{id}", get("getCustomerCard",
            "A customer's card (客户信息卡): their cases, calls, revisit scores, refunds and repairs, masked",
            vec![id_parameter()], generator.subschema_for::<CustomerCard>().to_value())),
        ("/v1/sampling-audits", get("listSamplingAudits",
            "Monthly sampling audits (回访抽查) with their customers, oldest first",
            query_parameters::<SamplingAuditQuery>(generator), resource_list.clone())),
        ("/v1/sampling-audits/{id}", get("getSamplingAudit", "A sampling audit now; its revision is the ETag",
            vec![id_parameter()], resource.clone())),
        ("/v1/access-grants", get("listAccessGrants",
            "Access grants (客户信息借阅): an agent's own, or all for supervisors, auditors and admins",
            query_parameters::<AccessGrantQuery>(generator), resource_list)),
        ("/v1/access-grants/{id}", get("getAccessGrant", "An access grant now; its revision is the ETag",
            vec![id_parameter()], resource)),
        ("/v1/cases/{id}", get("getCase", "A case now; its revision is the ETag",
            vec![id_parameter(), grant.clone()],
            generator.subschema_for::<aftersales_projections::case_views::CaseDetail>().to_value())),
        ("/v1/cases/{id}/history", get("caseHistory", "Every event of a case and every unmasked read of it, in order",
            vec![id_parameter(), grant], json!({"type": "object", "properties": {
                "case_id": {"type": "string", "format": "uuid"}, "events": history}}))),
        ("/v1/reports", get("listReports", "The SOP reports", Vec::new(), reports)),
        ("/v1/reports/{name}", get("report", "A report, now or as of a time or position",
            [vec![json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string"}})],
             query_parameters::<ReportQuery>(generator)].concat(), report.clone())),
        ("/v1/worklists/{kind}", get("worklist", "Open revisits, follow-ups or handoffs, or the cases escalated or warned of their deadline, soonest due first",
            [vec![json!({"name": "kind", "in": "path", "required": true,
                "schema": {"type": "string", "enum": ["revisits", "follow-ups", "handoffs", "escalations", "at-risk"]}})],
             query_parameters::<WorklistQuery>(generator)].concat(), worklist)),
        ("/v1/worklists/handover", get("handover", "Each agent's open cases and what is open or overdue on them, for the shift handover",
            query_parameters::<HandoverQuery>(generator), handover)),
        ("/v1/ledger/balances", get("ledgerBalances", "Ledger balances",
            query_parameters::<BalanceQuery>(generator), report)),
        ("/v1/ledger/check", get("ledgerCheck", "Every transaction balances and agrees with the case views",
            Vec::new(), generator.subschema_for::<LedgerCheckAnswer>().to_value())),
        ("/v1/projections", get("projections", "Where each read model stands", Vec::new(),
            generator.subschema_for::<Vec<aftersales_projections::admin::Status>>().to_value())),
        ("/v1/events", json!({"get": {
            "operationId": "events",
            "summary": "A page of the log, personal data masked",
            "parameters": query_parameters::<FeedQuery>(generator),
            "responses": {"200": ok(feed), "default": problem()},
        }})),
        ("/v1/events/stream", json!({"get": {
            "operationId": "eventStream",
            "summary": "The log live, as Server-Sent Events; resumes after Last-Event-ID",
            "parameters": stream_parameters,
            // One schema per event, as schema-aware SSE clients read it.
            "responses": {"200": {"description": "An event stream. Each log event has its position as `id`, \
its type as `event` and a FeedEvent as JSON in `data`; `caught-up` carries the head position; \
`error` ends the stream (reconnect with Last-Event-ID)",
                                  "content": {"text/event-stream": {"schema": {
                                      "type": "object",
                                      "required": ["data"],
                                      "properties": {
                                          "id": {"type": "string"},
                                          "event": {"type": "string"},
                                          "data": {"type": "string"},
                                          "retry": {"type": "integer"},
                                      },
                                  }}}},
                          "default": problem()},
        }})),
    ];
    for (path, item) in entries {
        add(paths, path, "get", item["get"].clone());
    }
    // A report is also an Excel workbook (`?format=xlsx` or `Accept`).
    paths["/v1/reports/{name}"]["get"]["responses"]["200"]["content"][XLSX] =
        json!({"schema": {"type": "string", "format": "binary"}});
    for (path, id) in [
        ("/healthz", "healthz"),
        ("/readyz", "readyz"),
        ("/v1/openapi.json", "openapi"),
    ] {
        paths.insert(path.to_owned(), json!({"get": {
            "operationId": id,
            "security": [],
            "responses": {"200": {"description": "OK"}, "default": {"description": "Not ready"}},
        }}));
    }
}
