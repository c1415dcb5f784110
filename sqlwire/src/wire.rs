//! The PostgreSQL wire protocol over a [`crate::Snapshot`]: simple and extended queries,
//! read only, with per-query time, memory and result-size limits, password (SCRAM-SHA-256)
//! or no authentication, and the few server functions and settings that clients ask for on
//! their own (`docs/sql.md` lists them).

use std::fmt::Debug;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, MapArray, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use async_trait::async_trait;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParserBuilder, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::Statement as Ast;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use futures::{Sink, StreamExt};
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::{ScramAuth, gen_salted_password};
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler, finish_authentication,
    protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{DataRowEncoder, DescribePortalResponse, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireConnectionState, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use crate::{Limits, Shared, compat};

/// A protocol error with its SQLSTATE.
fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".into(), code.into(), message.into())))
}

/// A DataFusion error as the client sees it: the message once (DataFusion's chain repeats
/// it), with the SQLSTATE PostgreSQL would use.
fn df_error(e: datafusion::error::DataFusionError) -> PgWireError {
    use datafusion::error::DataFusionError as E;
    let root = e.find_root();
    let code = match root {
        E::SQL(..) => "42601",
        E::ResourcesExhausted(_) => "53200",
        E::Plan(m) if m.contains("not found") => "42P01",
        E::SchemaError(..) => "42703",
        E::Plan(_) => "42804",
        E::NotImplemented(_) => "0A000",
        _ => "XX000",
    };
    let message = root
        .to_string()
        .trim_start_matches("Error during planning: ")
        .trim_start_matches("Resources exhausted: ")
        .to_string();
    user_error(code, message)
}

/// What a parsed statement is.
#[derive(Debug, Clone)]
pub enum Stmt {
    /// A query: the parsed statement and its plan (with `$n` placeholders for the extended
    /// protocol). A prepared statement is planned again at each execution, against the
    /// snapshot served then, so that it sees the log's new records like any other query.
    Plan(Box<DfStatement>, Box<LogicalPlan>),
    /// `BEGIN` / `START TRANSACTION` (accepted; every statement reads one snapshot anyway).
    Begin,
    /// `COMMIT` / `END`.
    Commit,
    /// `ROLLBACK` / `ABORT`.
    Rollback,
    /// `SET` of a session parameter (accepted and ignored; `datafusion.*` is refused).
    Set,
    /// `SHOW name`.
    Show(String),
}

/// The server's query engine, shared by every connection.
pub struct Engine {
    pub(crate) shared: Arc<Shared>,
}

impl Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Engine")
    }
}

/// Parses one query string into statements; an empty list for a query of comments only.
fn parse(sql: &str) -> PgWireResult<Vec<DfStatement>> {
    let dialect = PostgreSqlDialect {};
    let mut parser = DFParserBuilder::new(sql)
        .with_dialect(&dialect)
        .build()
        .map_err(df_error)?;
    let stmts = parser.parse_statements().map_err(df_error)?;
    Ok(stmts.into_iter().collect())
}

fn refuse(what: &str) -> PgWireError {
    user_error(
        "25006",
        format!("cutover serves the drill read only: {what} is not allowed (SELECT, WITH, VALUES, EXPLAIN, SHOW only)"),
    )
}

impl Engine {
    /// The session a statement runs in: the current snapshot's tables and functions, with a
    /// memory pool of the per-query limit.
    fn session(&self) -> PgWireResult<SessionContext> {
        let snap = self.shared.current();
        // No disk manager: a statement over its memory limit fails (53200) rather than
        // spilling into a temp directory that may share the log's file system.
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(self.shared.limits.query_memory_bytes, 1.0)
            .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled))
            .build_arc()
            .map_err(df_error)?;
        let state = SessionStateBuilder::new_from_existing(snap.ctx.state())
            .with_runtime_env(runtime)
            .build();
        Ok(SessionContext::new_with_state(state))
    }

    /// Classifies and (for queries) plans one statement.
    async fn prepare(&self, ctx: &SessionContext, stmt: DfStatement) -> PgWireResult<Stmt> {
        if let DfStatement::Statement(ast) = &stmt {
            match ast.as_ref() {
                Ast::StartTransaction { .. } => return Ok(Stmt::Begin),
                Ast::Commit { .. } => return Ok(Stmt::Commit),
                Ast::Rollback { .. } => return Ok(Stmt::Rollback),
                Ast::Set(set) => {
                    let text = set.to_string().to_ascii_lowercase();
                    if text.contains("datafusion.") {
                        return Err(refuse("changing the query engine's settings"));
                    }
                    return Ok(Stmt::Set);
                }
                Ast::ShowVariable { variable } => {
                    let name = variable.iter().map(|i| i.value.as_str()).collect::<Vec<_>>().join(" ");
                    return Ok(Stmt::Show(name));
                }
                Ast::Query(_) | Ast::Explain { .. } => {}
                other => {
                    let word = other.to_string();
                    let word = word.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
                    return Err(refuse(&word));
                }
            }
        } else if !matches!(stmt, DfStatement::Explain(_)) {
            return Err(refuse("this statement"));
        }
        let plan = ctx.state().statement_to_plan(stmt.clone()).await.map_err(df_error)?;
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        options.verify_plan(&plan).map_err(|e| refuse(&e.strip_backtrace()))?;
        Ok(Stmt::Plan(Box::new(stmt), Box::new(plan)))
    }

    /// Runs a planned query within the limits and encodes its rows in `format`: the time limit
    /// covers execution and encoding, and the result limit counts the encoded rows (what is
    /// held until it is sent).
    async fn run_plan(&self, ctx: SessionContext, plan: LogicalPlan, format: &Format) -> PgWireResult<Response> {
        let limits: Limits = self.shared.limits;
        let work = async {
            let df = ctx.execute_logical_plan(plan).await.map_err(df_error)?;
            let wire = wire_schema(df.schema().as_arrow());
            let fields = Arc::new(arrow_pg::datatypes::arrow_schema_to_pg_fields(&wire, format, None)?);
            let mut stream = df.execute_stream().await.map_err(df_error)?;
            let mut rows = Vec::new();
            let mut bytes = 0usize;
            while let Some(b) = stream.next().await {
                let b = wire_batch(&wire, b.map_err(df_error)?)?;
                for row in arrow_pg::datatypes::encode_recordbatch(fields.clone(), b) {
                    let row = row?;
                    bytes += row.data.len() + 8;
                    if bytes > limits.result_bytes {
                        return Err(user_error(
                            "54000",
                            format!(
                                "the result is larger than the server's limit of {} MiB; add a LIMIT or aggregate",
                                limits.result_bytes >> 20
                            ),
                        ));
                    }
                    rows.push(Ok(row));
                }
                // Encoding is CPU work on a runtime worker: let other tasks (and the timeout) run.
                tokio::task::yield_now().await;
            }
            Ok::<_, PgWireError>((fields, rows))
        };
        let (fields, rows) = match tokio::time::timeout(limits.query_timeout, work).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(user_error(
                    "57014",
                    format!(
                        "canceling statement due to the server's query timeout ({} s)",
                        limits.query_timeout.as_secs_f64()
                    ),
                ));
            }
        };
        Ok(Response::Query(QueryResponse::new(fields, futures::stream::iter(rows))))
    }

    async fn respond(&self, ctx: SessionContext, stmt: Stmt, format: &Format) -> PgWireResult<Response> {
        match stmt {
            Stmt::Begin => Ok(Response::TransactionStart(Tag::new("BEGIN"))),
            Stmt::Commit => Ok(Response::TransactionEnd(Tag::new("COMMIT"))),
            Stmt::Rollback => Ok(Response::TransactionEnd(Tag::new("ROLLBACK"))),
            Stmt::Set => Ok(Response::Execution(Tag::new("SET"))),
            Stmt::Show(name) => {
                let Some(value) = compat::show(&name) else {
                    return Err(user_error(
                        "42704",
                        format!("unrecognized configuration parameter \"{name}\""),
                    ));
                };
                let fields = Arc::new(vec![FieldInfo::new(
                    name.clone(),
                    None,
                    None,
                    Type::TEXT,
                    format.format_for(0),
                )]);
                let mut enc = DataRowEncoder::new(fields.clone());
                enc.encode_field(&Some(value))?;
                let row = enc.take_row();
                Ok(Response::Query(QueryResponse::new(
                    fields,
                    futures::stream::iter([Ok(row)]),
                )))
            }
            Stmt::Plan(_, plan) => self.run_plan(ctx, *plan, format).await,
        }
    }
}

/// Whether a column goes over the wire as JSON text: maps (`attributes`), lists
/// (`bucket_bounds`) and structs (`exemplars`), which have no PostgreSQL type here.
fn as_json(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Map(..) | DataType::List(..) | DataType::LargeList(..) | DataType::Struct(..)
    )
}

/// Result columns as they go over the wire: map, list and struct columns become JSON text.
pub fn wire_schema(schema: &Schema) -> Schema {
    Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| {
                if as_json(f.data_type()) {
                    Arc::new(Field::new(f.name(), DataType::Utf8, f.is_nullable()))
                } else {
                    f.clone()
                }
            })
            .collect::<Vec<_>>(),
    )
}

fn wire_batch(schema: &Schema, batch: RecordBatch) -> PgWireResult<RecordBatch> {
    if !batch.columns().iter().any(|c| as_json(c.data_type())) {
        return Ok(batch);
    }
    let cols = batch
        .columns()
        .iter()
        .map(|c| match c.as_any().downcast_ref::<MapArray>() {
            Some(m) => Ok(map_to_json(m)),
            None if as_json(c.data_type()) => nested_to_json(c),
            None => Ok(c.clone()),
        })
        .collect::<PgWireResult<Vec<ArrayRef>>>()?;
    RecordBatch::try_new(Arc::new(schema.clone()), cols).map_err(|e| PgWireError::ApiError(Box::new(e)))
}

/// A list or struct column as JSON text per row (arrow's JSON writer; null stays null).
fn nested_to_json(c: &ArrayRef) -> PgWireResult<ArrayRef> {
    let err = |e: arrow::error::ArrowError| PgWireError::ApiError(Box::new(e));
    let one = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("v", c.data_type().clone(), true)])),
        vec![c.clone()],
    )
    .map_err(err)?;
    let mut buf = Vec::new();
    {
        let mut w = arrow::json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, arrow::json::writer::LineDelimited>(&mut buf);
        w.write(&one).map_err(err)?;
        w.finish().map_err(err)?;
    }
    let mut b = StringBuilder::new();
    for line in buf.split(|c| *c == b'\n').filter(|l| !l.is_empty()) {
        let mut row: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(line).map_err(|e| PgWireError::ApiError(Box::new(e)))?;
        match row.remove("v") {
            None | Some(serde_json::Value::Null) => b.append_null(),
            Some(v) => b.append_value(v.to_string()),
        }
    }
    Ok(Arc::new(b.finish()))
}

/// `{"key":"value",...}` per row (values as text, null when absent).
fn map_to_json(m: &MapArray) -> ArrayRef {
    let keys = arrow::compute::cast(m.keys(), &DataType::Utf8).unwrap_or_else(|_| m.keys().clone());
    let values = arrow::compute::cast(m.values(), &DataType::Utf8).unwrap_or_else(|_| m.values().clone());
    let keys = keys.as_any().downcast_ref::<arrow::array::StringArray>();
    let values = values.as_any().downcast_ref::<arrow::array::StringArray>();
    let mut b = StringBuilder::new();
    let offsets = m.value_offsets();
    for row in 0..m.len() {
        if m.is_null(row) {
            b.append_null();
            continue;
        }
        let mut obj = serde_json::Map::new();
        if let (Some(k), Some(v)) = (keys, values) {
            for i in offsets[row] as usize..offsets[row + 1] as usize {
                let val = if v.is_null(i) {
                    serde_json::Value::Null
                } else {
                    serde_json::Value::String(v.value(i).to_string())
                };
                obj.insert(k.value(i).to_string(), val);
            }
        }
        b.append_value(serde_json::Value::Object(obj).to_string());
    }
    Arc::new(b.finish())
}

#[async_trait]
impl SimpleQueryHandler for Engine {
    async fn do_query<C>(&self, _client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let sql = compat::rewrite(query);
        let stmts = parse(&sql)?;
        if stmts.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let ctx = self.session()?;
        let mut out = Vec::with_capacity(stmts.len());
        for s in stmts {
            let stmt = self.prepare(&ctx, s).await?;
            out.push(self.respond(ctx.clone(), stmt, &Format::UnifiedText).await?);
        }
        Ok(out)
    }
}

/// Plans statements of the extended protocol.
pub struct Parser {
    engine: Arc<Engine>,
}

/// The protocol's limit (parameter counts are 16-bit on the wire).
const MAX_PARAMS: usize = 65_535;

fn param_types(plan: &LogicalPlan) -> PgWireResult<Vec<Option<DataType>>> {
    let types = plan.get_parameter_types().map_err(df_error)?;
    let mut out: Vec<(usize, Option<DataType>)> = types
        .into_iter()
        .filter_map(|(k, v)| k.trim_start_matches('$').parse::<usize>().ok().map(|i| (i, v)))
        .collect();
    out.sort_by_key(|(i, _)| *i);
    let n = out.last().map_or(0, |(i, _)| *i);
    if n > MAX_PARAMS {
        return Err(user_error(
            "54023",
            format!("${n}: a statement has at most {MAX_PARAMS} parameters"),
        ));
    }
    let mut v = vec![None; n];
    for (i, t) in out {
        if i >= 1 {
            v[i - 1] = t;
        }
    }
    Ok(v)
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = Stmt;

    async fn parse_sql<C>(&self, _client: &C, sql: &str, _types: &[Option<Type>]) -> PgWireResult<Option<Stmt>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let sql = compat::rewrite(sql);
        let mut stmts = parse(&sql)?;
        match stmts.len() {
            0 => Ok(None),
            1 => {
                let ctx = self.engine.session()?;
                Ok(Some(self.engine.prepare(&ctx, stmts.remove(0)).await?))
            }
            _ => Err(user_error(
                "42601",
                "cannot insert multiple commands into a prepared statement",
            )),
        }
    }

    fn get_parameter_types(&self, stmt: &Stmt) -> PgWireResult<Vec<Type>> {
        match stmt {
            Stmt::Plan(_, plan) => Ok(param_types(plan)?
                .into_iter()
                .map(|t| {
                    t.and_then(|t| arrow_pg::datatypes::into_pg_type(&t).ok())
                        .unwrap_or(Type::UNKNOWN)
                })
                .collect()),
            _ => Ok(vec![]),
        }
    }

    fn get_result_schema(&self, stmt: &Stmt, format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        let format = format.cloned().unwrap_or(Format::UnifiedText);
        match stmt {
            Stmt::Plan(_, plan) => {
                let schema = wire_schema(plan.schema().as_arrow());
                arrow_pg::datatypes::arrow_schema_to_pg_fields(&schema, &format, None)
            }
            Stmt::Show(name) => Ok(vec![FieldInfo::new(
                name.clone(),
                None,
                None,
                Type::TEXT,
                format.format_for(0),
            )]),
            _ => Ok(vec![]),
        }
    }
}

/// The value of parameter `i` of `portal`, as the type the plan expects (text when the plan
/// does not say).
fn param_value(portal: &Portal<Stmt>, i: usize, want: Option<&DataType>) -> PgWireResult<ScalarValue> {
    let Some(Some(raw)) = portal.parameters.get(i) else {
        return ScalarValue::try_from(want.unwrap_or(&DataType::Utf8)).map_err(df_error);
    };
    // The type the client named at Parse; when it named none (pgx, asyncpg: they take the
    // server's ParameterDescription), the type the plan wants, which is what was described.
    let given = portal
        .statement
        .parameter_types
        .get(i)
        .cloned()
        .flatten()
        .filter(|t| *t != Type::UNKNOWN)
        .or_else(|| want.and_then(|w| arrow_pg::datatypes::into_pg_type(w).ok()))
        .unwrap_or(Type::UNKNOWN);
    let v =
        if portal.parameter_format.is_binary(i) {
            let ty = &given;
            if *ty == Type::INT2 {
                ScalarValue::Int16(portal.parameter::<i16>(i, ty)?)
            } else if *ty == Type::INT4 {
                ScalarValue::Int32(portal.parameter::<i32>(i, ty)?)
            } else if *ty == Type::INT8 {
                ScalarValue::Int64(portal.parameter::<i64>(i, ty)?)
            } else if *ty == Type::FLOAT4 {
                ScalarValue::Float32(portal.parameter::<f32>(i, ty)?)
            } else if *ty == Type::FLOAT8 {
                ScalarValue::Float64(portal.parameter::<f64>(i, ty)?)
            } else if *ty == Type::BOOL {
                ScalarValue::Boolean(portal.parameter::<bool>(i, ty)?)
            } else if *ty == Type::TIMESTAMPTZ || *ty == Type::TIMESTAMP {
                // Microseconds since 2000-01-01 00:00 UTC.
                let us = i64::from_be_bytes(raw.as_ref().try_into().map_err(|_| {
                    user_error("22P03", format!("parameter ${}: a binary timestamp has 8 bytes", i + 1))
                })?);
                let ns = us
                    .checked_add(946_684_800_000_000)
                    .and_then(|u| u.checked_mul(1000))
                    .ok_or_else(|| user_error("22008", format!("parameter ${}: timestamp out of range", i + 1)))?;
                let tz = (*ty == Type::TIMESTAMPTZ).then(|| Arc::from("UTC"));
                ScalarValue::TimestampNanosecond(Some(ns), tz)
            } else if *ty == Type::DATE {
                let days =
                    i32::from_be_bytes(raw.as_ref().try_into().map_err(|_| {
                        user_error("22P03", format!("parameter ${}: a binary date has 4 bytes", i + 1))
                    })?);
                ScalarValue::Date32(Some(days.saturating_add(10_957)))
            } else if [Type::TEXT, Type::VARCHAR, Type::BPCHAR, Type::NAME, Type::UNKNOWN].contains(ty) {
                ScalarValue::Utf8(Some(String::from_utf8_lossy(raw).into_owned()))
            } else {
                return Err(user_error(
                    "0A000",
                    format!(
                        "parameter ${}: binary {} is not supported; send it as text",
                        i + 1,
                        ty.name()
                    ),
                ));
            }
        } else {
            ScalarValue::Utf8(Some(String::from_utf8_lossy(raw).into_owned()))
        };
    // Where the plan does not say (a LIMIT, a bare `SELECT $1`), the value keeps the type the
    // client sent.
    let Some(want) = want else { return Ok(v) };
    if v.data_type() == *want {
        return Ok(v);
    }
    v.cast_to(want).map_err(|e| {
        user_error(
            "22P02",
            format!(
                "parameter ${}: cannot read it as {want}: {}",
                i + 1,
                e.strip_backtrace()
            ),
        )
    })
}

#[async_trait]
impl ExtendedQueryHandler for Engine {
    type Statement = Stmt;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        Arc::new(Parser {
            engine: Arc::new(Engine {
                shared: self.shared.clone(),
            }),
        })
    }

    async fn do_query<C>(&self, _client: &mut C, portal: &Portal<Stmt>, _max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Stmt>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let ctx = self.session()?;
        let stmt = portal.statement.statement.clone();
        let stmt = match stmt {
            Stmt::Plan(parsed, _) => {
                let Stmt::Plan(parsed, plan) = self.prepare(&ctx, *parsed).await? else {
                    return Err(PgWireError::ApiError("a query planned as another statement".into()));
                };
                let want = param_types(&plan)?;
                if portal.parameter_len() < want.len() {
                    return Err(user_error(
                        "08P01",
                        format!(
                            "the statement has {} parameters but {} were bound",
                            want.len(),
                            portal.parameter_len()
                        ),
                    ));
                }
                let n = want.len().max(portal.parameter_len());
                let values = (0..n)
                    .map(|i| param_value(portal, i, want.get(i).and_then(|t| t.as_ref())))
                    .collect::<PgWireResult<Vec<_>>>()?;
                let plan = if n == 0 {
                    *plan
                } else {
                    plan.replace_params_with_values(&ParamValues::List(values.into_iter().map(Into::into).collect()))
                        .map_err(df_error)?
                };
                Stmt::Plan(parsed, Box::new(plan))
            }
            other => other,
        };
        self.respond(ctx, stmt, &portal.result_column_format).await
    }

    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        target: &Portal<Stmt>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Stmt>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let parser = self.query_parser();
        let fields = parser.get_result_schema(&target.statement.statement, Some(&target.result_column_format))?;
        Ok(DescribePortalResponse::new(fields))
    }
}

/// The password of the one user, kept as a SCRAM salted hash.
#[derive(Debug, Clone)]
pub struct Credentials {
    user: String,
    salt: Vec<u8>,
    salted: Vec<u8>,
    /// Keys of the salts answered for unknown users, and their (random) stored key.
    decoy_keys: std::collections::hash_map::RandomState,
    decoy: Vec<u8>,
}

const SCRAM_ITERATIONS: usize = 4096;

impl Credentials {
    /// Credentials of `user` with `password`.
    pub fn new(user: &str, password: &str) -> Credentials {
        let salt: [u8; 16] = rand::random();
        let decoy: [u8; 32] = rand::random();
        Credentials {
            user: user.to_string(),
            salted: gen_salted_password(password, &salt, SCRAM_ITERATIONS),
            salt: salt.to_vec(),
            decoy_keys: std::collections::hash_map::RandomState::new(),
            decoy: decoy.to_vec(),
        }
    }
}

#[async_trait]
impl AuthSource for Credentials {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().unwrap_or_default();
        if user != self.user {
            // The same salt for a name each time and no key derivation, like the real user:
            // neither the salt nor the timing tells which user names exist. The stored key is
            // random, so the proof fails with the same error as a wrong password.
            return Ok(Password::new(Some(self.decoy_salt(user)), self.decoy.clone()));
        }
        Ok(Password::new(Some(self.salt.clone()), self.salted.clone()))
    }
}

impl Credentials {
    fn decoy_salt(&self, user: &str) -> Vec<u8> {
        use std::hash::{BuildHasher, Hasher};
        let mut out = Vec::with_capacity(16);
        for part in [0u8, 1] {
            let mut h = self.decoy_keys.build_hasher();
            h.write_u8(part);
            h.write(user.as_bytes());
            out.extend(h.finish().to_le_bytes());
        }
        out
    }
}

/// The parameters every client gets at startup.
fn parameters() -> DefaultServerParameterProvider {
    let mut p = DefaultServerParameterProvider::default();
    p.server_version = compat::SERVER_VERSION.to_string();
    p.is_superuser = false;
    p.default_transaction_read_only = true;
    p.time_zone = "UTC".to_string();
    p
}

/// Startup: SCRAM-SHA-256 when a password is set, otherwise none.
pub enum Startup {
    /// No password.
    Trust(DefaultServerParameterProvider),
    /// SCRAM-SHA-256.
    Scram(SASLAuthStartupHandler<DefaultServerParameterProvider>),
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match self {
            Startup::Scram(h) => h.on_startup(client, message).await,
            Startup::Trust(params) => {
                if let PgWireFrontendMessage::Startup(ref startup) = message {
                    protocol_negotiation(client, startup).await?;
                    save_startup_parameters_to_metadata(client, startup);
                    client.set_state(PgWireConnectionState::AuthenticationInProgress);
                    finish_authentication(client, params).await?;
                }
                Ok(())
            }
        }
    }
}

/// The handlers of one connection.
pub struct Handlers {
    pub(crate) engine: Arc<Engine>,
    pub(crate) credentials: Option<Credentials>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.engine.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.engine.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::new(match &self.credentials {
            None => Startup::Trust(parameters()),
            Some(c) => {
                let mut scram = ScramAuth::new(Arc::new(c.clone()));
                scram.set_iterations(SCRAM_ITERATIONS);
                Startup::Scram(SASLAuthStartupHandler::new(Arc::new(parameters())).with_scram(scram))
            }
        })
    }
}
