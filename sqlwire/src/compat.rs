//! What PostgreSQL clients ask a server for on their own: `version()`,
//! `current_setting(...)`, `SHOW ...`, `quote_ident`, `parse_ident`, and the search-path
//! clause of Grafana's table browser.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, ListBuilder, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field};
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use datafusion::prelude::SessionContext;

/// The PostgreSQL version cutover answers as (Grafana's config editor reads
/// `server_version_num`; the protocol's features are those of 16).
pub const SERVER_VERSION: &str = "16.0";

/// `server_version_num` for [`SERVER_VERSION`].
pub const SERVER_VERSION_NUM: &str = "160000";

/// `SHOW name` and `current_setting('name')`; `None` for a name cutover does not know.
pub fn show(name: &str) -> Option<String> {
    let v = match name.to_ascii_lowercase().replace(' ', "_").as_str() {
        "server_version" => SERVER_VERSION,
        "server_version_num" => SERVER_VERSION_NUM,
        "server_encoding" | "client_encoding" => "UTF8",
        "standard_conforming_strings"
        | "integer_datetimes"
        | "default_transaction_read_only"
        | "transaction_read_only" => "on",
        "is_superuser" => "off",
        "timezone" | "time_zone" => "UTC",
        "datestyle" => "ISO, MDY",
        "intervalstyle" => "postgres",
        "search_path" => "public",
        "transaction_isolation" | "transaction_isolation_level" | "default_transaction_isolation" => "repeatable read",
        "max_identifier_length" => "63",
        "application_name" => "",
        "lc_collate" | "lc_ctype" => "C.UTF-8",
        _ => return None,
    };
    Some(v.to_string())
}

/// Replaces the search-path clause that Grafana's table browser and query builder put in
/// their `information_schema` queries (it reads `current_setting('search_path')` through
/// `generate_series`, `array_lower`/`array_upper` and the `user` keyword) by the schema
/// cutover has, `public`.
pub fn rewrite(sql: &str) -> std::borrow::Cow<'_, str> {
    const START: &str = "quote_ident(table_schema) IN (";
    const MARK: &str = "current_setting('search_path')";
    if !sql.contains(MARK) {
        return sql.into();
    }
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(START) {
        let after = &rest[at + START.len()..];
        // The clause ends at the parenthesis that closes `IN (`.
        let mut depth = 1usize;
        let mut end = None;
        for (i, c) in after.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(end) = end else { break };
        let inner = &after[..end];
        out.push_str(&rest[..at]);
        if inner.contains(MARK) {
            out.push_str("quote_ident(table_schema) IN ('public')");
        } else {
            out.push_str(&rest[at..at + START.len() + end + 1]);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out.into()
}

/// A scalar function of text arguments defined by a closure.
struct TextFn {
    name: &'static str,
    signature: Signature,
    ret: DataType,
    f: fn(&[Option<&str>]) -> Result<ScalarValue, DataFusionError>,
}

impl std::fmt::Debug for TextFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for TextFn {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name
    }
}

impl Eq for TextFn {}

impl std::hash::Hash for TextFn {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.name.hash(h)
    }
}

impl ScalarUDFImpl for TextFn {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(self.ret.clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<datafusion::error::Result<_>>()?;
        let texts: Vec<ArrayRef> = arrays
            .iter()
            .map(|a| arrow::compute::cast(a, &DataType::Utf8))
            .collect::<Result<_, _>>()?;
        let texts: Vec<&StringArray> = texts
            .iter()
            .map(|a| a.as_any().downcast_ref::<StringArray>().expect("cast to Utf8"))
            .collect();
        let mut out = Vec::with_capacity(rows);
        for r in 0..rows {
            let row: Vec<Option<&str>> = texts.iter().map(|a| (!a.is_null(r)).then(|| a.value(r))).collect();
            out.push((self.f)(&row)?);
        }
        if rows == 0 {
            return Ok(ColumnarValue::Array(arrow::array::new_empty_array(&self.ret)));
        }
        Ok(ColumnarValue::Array(ScalarValue::iter_to_array(out)?))
    }
}

fn text(v: Option<String>) -> Result<ScalarValue, DataFusionError> {
    Ok(ScalarValue::Utf8(v))
}

fn quote_ident(s: &str) -> String {
    let plain = s.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}

/// `parse_ident('a.b')` → `['a', 'b']` (quoted parts keep their case).
fn parse_ident(s: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut cur)),
            c if quoted => cur.push(c),
            c => cur.extend(c.to_lowercase()),
        }
    }
    parts.push(cur);
    parts
}

fn list(parts: Option<Vec<String>>) -> Result<ScalarValue, DataFusionError> {
    let mut b = ListBuilder::new(StringBuilder::new());
    match parts {
        Some(p) => {
            for x in p {
                b.values().append_value(x);
            }
            b.append(true);
        }
        None => b.append(false),
    }
    let arr = b.finish();
    Ok(ScalarValue::List(Arc::new(arr)))
}

fn udf(
    name: &'static str,
    args: usize,
    ret: DataType,
    f: fn(&[Option<&str>]) -> Result<ScalarValue, DataFusionError>,
) -> ScalarUDF {
    let signature = if args == 0 {
        Signature::nullary(Volatility::Stable)
    } else {
        Signature::any(args, Volatility::Stable)
    };
    ScalarUDF::new_from_impl(TextFn {
        name,
        signature,
        ret,
        f,
    })
}

/// The full `version()` text.
pub fn version_text() -> String {
    format!(
        "PostgreSQL {SERVER_VERSION} (cutover {} over Apache DataFusion; read only)",
        env!("CARGO_PKG_VERSION")
    )
}

/// Registers the functions in `ctx` (replacing DataFusion's own `version()`).
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(udf("version", 0, DataType::Utf8, |_| text(Some(version_text()))));
    ctx.register_udf(udf("current_setting", 1, DataType::Utf8, |a| match a[0] {
        Some(name) => match show(name) {
            Some(v) => text(Some(v)),
            None => Err(DataFusionError::Plan(format!(
                "unrecognized configuration parameter \"{name}\""
            ))),
        },
        None => text(None),
    }));
    ctx.register_udf(udf("quote_ident", 1, DataType::Utf8, |a| text(a[0].map(quote_ident))));
    ctx.register_udf(udf(
        "parse_ident",
        1,
        DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
        |a| list(a[0].map(parse_ident)),
    ));
    ctx.register_udf(udf("current_database", 0, DataType::Utf8, |_| {
        text(Some("cutover".into()))
    }));
    ctx.register_udf(udf("current_schema", 0, DataType::Utf8, |_| {
        text(Some("public".into()))
    }));
    ctx.register_udf(udf("pg_backend_pid", 0, DataType::Int64, |_| {
        Ok(ScalarValue::Int64(Some(i64::from(std::process::id()))))
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grafana_search_path_clause_becomes_public() {
        let sql = "SELECT 1 FROM information_schema.tables WHERE\n          quote_ident(table_schema) IN (\n          SELECT\n            CASE WHEN trim(s[i]) = '\"$user\"' THEN user ELSE trim(s[i]) END\n          FROM\n            generate_series(\n              array_lower(string_to_array(current_setting('search_path'),','),1),\n              array_upper(string_to_array(current_setting('search_path'),','),1)\n            ) as i,\n            string_to_array(current_setting('search_path'),',') s\n          ) ORDER BY 1";
        assert_eq!(
            rewrite(sql),
            "SELECT 1 FROM information_schema.tables WHERE\n          quote_ident(table_schema) IN ('public') ORDER BY 1"
        );
        let other = "SELECT quote_ident(table_schema) IN ('x') FROM t";
        assert_eq!(rewrite(other), other);
    }

    #[test]
    fn identifiers_quote_and_parse_like_postgres() {
        assert_eq!(quote_ident("spans"), "spans");
        assert_eq!(quote_ident("Spans"), "\"Spans\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(parse_ident("public.Spans"), vec!["public", "spans"]);
        assert_eq!(parse_ident("\"My.T\""), vec!["My.T"]);
    }

    #[test]
    fn settings_clients_ask_for_answer() {
        assert_eq!(show("server_version_num").as_deref(), Some("160000"));
        assert_eq!(show("TimeZone").as_deref(), Some("UTC"));
        assert_eq!(show("transaction isolation level").as_deref(), Some("repeatable read"));
        assert!(show("no_such_thing").is_none());
    }
}
