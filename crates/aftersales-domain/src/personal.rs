//! Which fields hold personal data (客户信息), marked once for every read
//! path: case views, lists, histories, the feed and its live stream,
//! reports and their CSV files. Fields are marked by name, wherever they
//! stand, so that a new field called `phone` is personal data without
//! anyone remembering to say so.
//!
//! Two kinds: fields whose whole text is personal data (a phone number, a
//! buyer id, a bank account), and free text (notes, what a caller said, a
//! reason) in which a customer's words may carry some. The first are masked
//! whole; in the second the phone, identity-card and bank-account numbers
//! and e-mail addresses are redacted, for everyone but those who may see
//! the case's personal data.

use serde_json::value::RawValue;

/// Fields whose whole text is personal data.
const PERSONAL: &[&str] = &[
    "phone",
    "number",
    "address",
    "return_address",
    "email",
    "buyer_id",
    "party_name",
    "customer",
    // A refund's bank account, name or e-mail to pay to.
    "payee_account",
    // A sampling audit's customers: phone numbers or buyer ids.
    "population",
    "drawn",
];

/// Fields of free text.
const FREE_TEXT: &[&str] = &[
    "notes",
    "note",
    "content",
    "reason",
    "sub_reason",
    "summary",
    "solution",
    "response",
    "question",
    "feedback",
    // What a follow-up came to; what a worklist item is about.
    "outcome",
    "detail",
    "complaint",
    "issue",
    "phenomenon",
    "purpose",
    "why",
    "impact",
    "fault",
    "location",
];

/// Whether the text of `field` (inside an object that stands under
/// `parent`) is personal data as a whole.
pub fn is_personal(field: &str, parent: Option<&str>) -> bool {
    PERSONAL.contains(&field)
        // A customer's own name, not a product's.
        || (field == "name" && parent == Some("customer"))
}

/// Whether `field` is free text, to be shown with [`redact`] applied to
/// those who may not see personal data.
pub fn is_free_text(field: &str) -> bool {
    FREE_TEXT.contains(&field)
}

/// Masks a personal field's text: `13812345678` → `138****5678`, `王小明` →
/// `王**`, `li@example.com` → `l***@example.com`; an address keeps its first
/// six characters.
pub fn mask(field: &str, text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let digits = chars.iter().filter(|c| c.is_ascii_digit()).count();
    if field == "email" || (!text.contains(' ') && is_email(text)) {
        if let Some((local, domain)) = text.split_once('@') {
            let first: String = local.chars().take(1).collect();
            return format!("{first}***@{domain}");
        }
    }
    if field.ends_with("address") {
        let kept: String = chars.iter().take(6).collect();
        return format!("{kept}****");
    }
    if digits * 2 > chars.len() && chars.len() >= 7 {
        let head: String = chars[..3].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        return format!("{head}****{tail}");
    }
    match chars.first() {
        Some(first) => format!("{first}**"),
        None => String::new(),
    }
}

/// Masks personal data in a JSON document at any depth: personal fields
/// whole, and the numbers and addresses inside free text. Every read path
/// that shows JSON to someone who may not see the data goes through here.
pub fn mask_json(value: &mut serde_json::Value) {
    mask_field(value, None, None);
}

/// A JSON object as stored (a read model's document), read field by
/// field: each field's text is found but not read, so that answering it
/// costs one scan and reads only the fields asked of it. Most of a case
/// view is dates, states and amounts, with nothing to mask.
#[derive(Debug)]
pub struct StoredObject<'a> {
    text: &'a str,
    /// `None` when the text is no object or a field's name has an escape
    /// in it: then it is read whole.
    fields: Option<Vec<(&'a str, &'a RawValue)>>,
}

impl<'a> StoredObject<'a> {
    pub fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        let fields = match serde_json::from_str::<Fields<'a>>(text) {
            Ok(Fields(fields)) => Some(fields),
            Err(_) => {
                serde_json::from_str::<serde::de::IgnoredAny>(text)?;
                None
            }
        };
        Ok(Self { text, fields })
    }

    /// The object's text as stored.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// The text of a top-level field that is a string.
    pub fn string(&self, name: &str) -> Option<String> {
        match &self.fields {
            Some(fields) => fields
                .iter()
                .find(|(field, _)| *field == name)
                .and_then(|(_, raw)| serde_json::from_str(raw.get()).ok()),
            None => serde_json::from_str::<serde_json::Value>(self.text)
                .ok()?
                .get(name)?
                .as_str()
                .map(str::to_owned),
        }
    }

    /// [`mask_json`] of the object, as text: the fields that name a marked
    /// field at any depth are read and masked, the others copied as
    /// stored.
    pub fn masked(&self) -> Result<String, serde_json::Error> {
        let Some(fields) = &self.fields else {
            let mut value: serde_json::Value = serde_json::from_str(self.text)?;
            mask_json(&mut value);
            return serde_json::to_string(&value);
        };
        let mut out = String::with_capacity(self.text.len());
        out.push('{');
        for (i, &(name, raw)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(name)?);
            out.push(':');
            if is_personal(name, None) || is_free_text(name) || names_a_marked_field(raw.get()) {
                let mut value: serde_json::Value = serde_json::from_str(raw.get())?;
                mask_field(&mut value, Some(name), None);
                out.push_str(&serde_json::to_string(&value)?);
            } else {
                out.push_str(raw.get());
            }
        }
        out.push('}');
        Ok(out)
    }
}

/// Whether the JSON text `json` has a field, at any depth, named as a
/// marked one, or with an escape in its name (which could spell one): one
/// pass over the text, from string to string, looking at the names.
fn names_a_marked_field(json: &str) -> bool {
    let bytes = json.as_bytes();
    let mut at = 0;
    while let Some(open) = bytes[at..].iter().position(|&b| b == b'"') {
        let start = at + open + 1;
        let mut end = start;
        let mut escaped = false;
        while end < bytes.len() && bytes[end] != b'"' {
            if bytes[end] == b'\\' {
                escaped = true;
                end += 1;
            }
            end += 1;
        }
        let end = end.min(bytes.len());
        at = (end + 1).min(bytes.len());
        let is_name = bytes[at..]
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|&b| b == b':');
        if is_name {
            let marked = json
                .get(start..end)
                .is_none_or(|name| PERSONAL.contains(&name) || FREE_TEXT.contains(&name));
            if escaped || marked {
                return true;
            }
        }
    }
    false
}

/// The fields of a JSON object in their order, each with its JSON text;
/// field names with escapes in them are refused.
struct Fields<'a>(Vec<(&'a str, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Fields<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Fields<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Self::Value, M::Error> {
                let mut fields = Vec::new();
                while let Some(field) = map.next_entry()? {
                    fields.push(field);
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

fn mask_field(value: &mut serde_json::Value, field: Option<&str>, parent: Option<&str>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                mask_field(child, Some(key), field);
            }
        }
        // The items of a list stand for the list's field.
        Value::Array(items) => {
            for item in items {
                mask_field(item, field, parent);
            }
        }
        Value::String(text) => match field {
            Some(field) if is_personal(field, parent) => *text = mask(field, text),
            Some(field) if is_free_text(field) => *text = redact(text),
            _ => {}
        },
        _ => {}
    }
}

/// Free text with the numbers of seven digits or more (phone, identity-card
/// and bank-account numbers, with or without spaces or dashes inside) and
/// the e-mail addresses in it masked; the rest of the words stay.
pub fn redact(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if let Some(end) = email_at(&chars, i) {
            let address: String = chars[i..end].iter().collect();
            out.push_str(&mask("email", &address));
            i = end;
        } else if chars[i].is_ascii_digit() {
            let end = number_end(&chars, i);
            let run: String = chars[i..end].iter().collect();
            let digits: String = run.chars().filter(char::is_ascii_alphanumeric).collect();
            if digits.len() >= 7 {
                out.push_str(&mask("number", &digits));
            } else {
                out.push_str(&run);
            }
            i = end;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Where a number that starts at `start` ends: digits, with single spaces
/// or dashes between them, and an identity card's closing `X`.
fn number_end(chars: &[char], start: usize) -> usize {
    let mut end = start;
    let mut i = start;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            i += 1;
            end = i;
        } else if matches!(chars[i], ' ' | '-')
            && chars.get(i + 1).is_some_and(char::is_ascii_digit)
        {
            i += 1;
        } else {
            break;
        }
    }
    if matches!(chars.get(end), Some('X' | 'x')) && end - start >= 17 {
        end += 1;
    }
    end
}

/// The end of an e-mail address starting at `start`, if one does.
fn email_at(chars: &[char], start: usize) -> Option<usize> {
    let local = |c: &char| c.is_ascii_alphanumeric() || "._%+-".contains(*c);
    let domain = |c: &char| c.is_ascii_alphanumeric() || ".-".contains(*c);
    // Only where a word starts: the middle of one was passed over already.
    if !chars.get(start).is_some_and(local) || (start > 0 && local(&chars[start - 1])) {
        return None;
    }
    let at = start + chars[start..].iter().take_while(|c| local(c)).count();
    if chars.get(at) != Some(&'@') {
        return None;
    }
    let end = at + 1 + chars[at + 1..].iter().take_while(|c| domain(c)).count();
    let host: String = chars[at + 1..end].iter().collect();
    let host = host.trim_end_matches('.');
    (host.contains('.') && !host.starts_with('.')).then_some(at + 1 + host.chars().count())
}

fn is_email(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    email_at(&chars, 0) == Some(chars.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The masking of stored text answers what masking the parsed
    /// document does, field for field, at every depth; fields with
    /// nothing to mask come out as they were stored.
    #[test]
    fn masking_stored_text_masks_as_masking_the_document_does() {
        let docs = [
            serde_json::json!({
                "case_id": "c-1",
                "status": "open",
                "customer": {"name": "王小明", "phone": "13812345678", "address": "浙江省杭州市西湖区文三路 1 号"},
                "product": {"name": "空气净化器"},
                "phenomenon": "客户说 13812345678 打不通",
                "parcel": {"tracking_no": "SF1", "return_address": "上海市浦东新区 2 号"},
                "follow_ups": [{"owner": "li", "detail": "邮件 li@example.com", "due": "2026-01-01"}],
                "refunds": [{"payee_account": "6222020200112233445", "amount": {"minor": 100}}],
                "money": {"paid": {"minor": 29900, "currency": "CNY"}},
                "quoted": "a \"phone\" in words",
                "sla": {"first_response_due": "2026-01-01T00:00:00Z", "breached": false},
                "revision": 7
            }),
            serde_json::json!({"a": [1, 2, {"b": {"customer": {"name": "李娜"}}}], "c": null}),
            serde_json::json!({}),
        ];
        for doc in docs {
            let text = serde_json::to_string(&doc).unwrap();
            let mut expected = doc.clone();
            mask_json(&mut expected);
            let masked: serde_json::Value =
                serde_json::from_str(&StoredObject::parse(&text).unwrap().masked().unwrap())
                    .unwrap();
            assert_eq!(masked, expected, "{text}");
        }
        // A field that names nothing marked is copied byte for byte.
        let stored = r#"{"sla":{"due" : "2026-01-01"},"customer":{"name":"王小明"}}"#;
        assert!(StoredObject::parse(stored)
            .unwrap()
            .masked()
            .unwrap()
            .starts_with(r#"{"sla":{"due" : "2026-01-01"},"customer":"#));
        // A name with an escape in it is read, at any depth.
        let nested = r#"{"a":{"ph\u006fne":"13812345678"},"b":{"x" : "13812345678"}}"#;
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(
                &StoredObject::parse(nested).unwrap().masked().unwrap()
            )
            .unwrap(),
            serde_json::json!({"a": {"phone": "138****5678"}, "b": {"x": "13812345678"}})
        );
        // Escaped field names and non-objects take the whole-document way.
        let escaped = r#"{"ph\u006fne":"13812345678","phone":"13812345678"}"#;
        let masked: serde_json::Value =
            serde_json::from_str(&StoredObject::parse(escaped).unwrap().masked().unwrap()).unwrap();
        assert_eq!(masked, serde_json::json!({"phone": "138****5678"}));
        assert!(StoredObject::parse("not json").is_err());
        // Whose it is, read from the stored text.
        let doc = StoredObject::parse(r#"{"assignee":null,"registered_by":"li"}"#).unwrap();
        assert_eq!(doc.string("assignee"), None);
        assert_eq!(doc.string("registered_by").as_deref(), Some("li"));
    }

    #[test]
    fn numbers_and_addresses_in_free_text_are_redacted_and_the_words_stay() {
        let said = "客户说电话13812345678打不通，改打138-1234-5679；身份证110101199003078515，\
                    银行卡 6222 0212 3456 7890 123，邮箱 wang.xm@example.com，订单号 123456";
        let redacted = redact(said);
        for secret in ["12345678", "1234-5679", "19900307", "3456 7890", "wang.xm"] {
            assert!(!redacted.contains(secret), "{secret} in {redacted}");
        }
        assert!(
            redacted.contains("客户说电话138****5678打不通"),
            "{redacted}"
        );
        assert!(redacted.contains("w***@example.com"), "{redacted}");
        // Short numbers (an order's six digits, a quantity) are not personal.
        assert!(redacted.contains("订单号 123456"), "{redacted}");
    }

    #[test]
    fn personal_fields_are_named_once() {
        for field in ["phone", "payee_account", "population", "drawn", "buyer_id"] {
            assert!(is_personal(field, None), "{field}");
        }
        assert!(is_personal("name", Some("customer")));
        assert!(!is_personal("name", Some("product")));
        assert!(is_free_text("notes") && is_free_text("content"));
        assert_eq!(mask("payee_account", "6222021234567890123"), "622****0123");
        assert_eq!(mask("payee_account", "li@example.com"), "l***@example.com");
    }
}
