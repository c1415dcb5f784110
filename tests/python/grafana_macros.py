"""What Grafana does to a PostgreSQL panel query before it reaches the server, re-implemented so
the dashboard tests run the exact SQL Grafana would send (spec: Grafana's
`grafana-postgresql-datasource`, read from grafana/grafana; the steps below name the source).

A query goes through three steps:

1. Frontend, `templateSrv.replace(rawSql, scopedVars, interpolateVariable)`
   (`packages/grafana-sql/src/datasource/SqlDatasource.ts`): dashboard variables (`$drill`,
   `${region}`, `[[service]]`) and the built-ins `$__interval` / `$__interval_ms`. A single
   string value of a variable that is neither multi nor include-all only gets its `'` doubled (so
   the SQL writes `'$drill'`); a string of a multi/include-all variable becomes a quoted literal;
   an array (a multi selection, or "All") becomes `'a','b'`; numbers pass unchanged. Unknown
   names stay as they are (`$__timeFilter` is not a variable).
2. Backend `sqleng` `Interpolate`: plain replacement of `$__interval_ms`, `$__interval`,
   `$__unixEpochFrom()`, `$__unixEpochTo()`.
3. Backend Postgres macro engine (`pkg/tsdb/grafana-postgresql-datasource/macros.go`, the
   version that strips SQL comments first): every `$name(args)` is a macro; arguments are split
   on `,` and trimmed of spaces; `$__timeGroup` becomes `$__timeGroupAlias` when the character
   after its *first* occurrence in the SQL is `,` (the pre-5.3 quirk, which then applies to every
   identical occurrence).

Not reproduced: the trailing sqlcommenter tag split of the newest backend (these dashboards carry
no comments) and the resampling a `$__timeGroup` fill argument asks for (the fill value is
validated like Grafana does, nothing more).
"""

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal

ALL = "$__all"  # the value of an include-all variable with "All" selected

NS_PER_SECOND = 1_000_000_000


class MacroError(Exception):
    """A query Grafana's backend refuses; the message is Grafana's text."""


# --- Go formatting and parsing -----------------------------------------------------------------

def go_fmt_v(x: float) -> str:
    """Go's `fmt.Sprintf("%v", float64)`: `%g` with the shortest digits that round-trip, in
    `e` notation when the exponent is below -4 or at least 6 (so 1e6 s is `1e+06`, 30 days
    `2.592e+06`)."""
    if x == 0:
        return "0"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if math.isnan(x):
        return "NaN"
    _, digits, exp = Decimal(repr(abs(x))).as_tuple()
    ds = "".join(map(str, digits))
    stripped = ds.rstrip("0")
    exp += len(ds) - len(stripped)
    ds = stripped
    nd = len(ds)
    dp = nd + exp  # where the decimal point falls in the digits
    e10 = dp - 1
    if e10 < -4 or e10 >= 6:
        s = ds[0] + ("." + ds[1:] if nd > 1 else "") + "e" + ("-" if e10 < 0 else "+") + f"{abs(e10):02d}"
    elif dp <= 0:
        s = "0." + "0" * (-dp) + ds
    elif dp >= nd:
        s = ds + "0" * (dp - nd)
    else:
        s = ds[:dp] + "." + ds[dp:]
    return ("-" if x < 0 else "") + s


def rfc3339nano(t: datetime) -> str:
    """Go `t.UTC().Format(time.RFC3339Nano)`: trailing fractional zeros trimmed, no dot for a
    whole second, `Z` for UTC."""
    t = t.astimezone(timezone.utc)
    s = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        s += ("." + f"{t.microsecond:06d}").rstrip("0")
    return s + "Z"


def unix_nano(t: datetime) -> int:
    delta = t.astimezone(timezone.utc) - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * NS_PER_SECOND + delta.microseconds * 1000


def unix_seconds(t: datetime) -> int:
    """Go `t.Unix()`: floor of the seconds since the epoch."""
    return unix_nano(t) // NS_PER_SECOND


_DURATION_UNITS = {
    "ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
    "s": NS_PER_SECOND, "m": 60 * NS_PER_SECOND, "h": 3600 * NS_PER_SECOND,
}
_DURATION_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]+)")


def go_parse_duration(s: str) -> int:
    """Go `time.ParseDuration`, in nanoseconds: `[-+]` then one or more decimal numbers with a
    unit (ns us µs ms s m h), e.g. `1h30m`, `1.5s`; a bare `0` is allowed."""
    orig = s
    neg = False
    if s and s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f'time: invalid duration "{orig}"')
    total = 0
    pos = 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m or (not m.group(1) and not m.group(2)):
            raise ValueError(f'time: invalid duration "{orig}"')
        whole, frac, unit = m.group(1), m.group(2) or "", m.group(3)
        if unit not in _DURATION_UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{orig}"')
        scale = _DURATION_UNITS[unit]
        total += int(whole or "0") * scale
        if frac:
            total += int(Decimal("0." + frac) * scale)
        pos = m.end()
    return -total if neg else total


def _go_add_date(t: datetime, years: int, months: int, days: int) -> datetime:
    """Go `t.AddDate`: normalizes overflowing months and days (2024-01-31 + 1 month = 2024-03-02)."""
    month0 = t.month - 1 + months
    year = t.year + years + month0 // 12
    first = t.replace(year=year, month=month0 % 12 + 1, day=1)
    return first + timedelta(days=t.day - 1 + days)


def parse_interval(s: str, now: datetime | None = None) -> int:
    """grafana-plugin-sdk-go `gtime.ParseInterval`, in nanoseconds: `<n>d|w|M|y` are calendar
    steps from now (UTC), anything else is a Go duration."""
    m = re.fullmatch(r"([0-9]+)([dwMy])", s)
    if not m:
        return go_parse_duration(s)
    n, unit = int(m.group(1)), m.group(2)
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    later = {
        "d": lambda: _go_add_date(now, 0, 0, n),
        "w": lambda: _go_add_date(now, 0, 0, 7 * n),
        "M": lambda: _go_add_date(now, 0, n, 0),
        "y": lambda: _go_add_date(now, n, 0, 0),
    }[unit]()
    return unix_nano(later) - unix_nano(now)


def go_duration_seconds(ns: int) -> float:
    """Go `Duration.Seconds()`: whole seconds plus the remainder, as float64."""
    sec, nsec = divmod(abs(ns), NS_PER_SECOND)
    return (-1 if ns < 0 else 1) * (float(sec) + float(nsec) / 1e9)


def format_interval(ns: int) -> str:
    """grafana-plugin-sdk-go `gtime.FormatInterval`: the largest unit that fits, truncated."""
    second = NS_PER_SECOND
    for unit, size in (("y", 365 * 86400 * second), ("d", 86400 * second),
                       ("h", 3600 * second), ("m", 60 * second), ("s", second),
                       ("ms", 1_000_000)):
        if ns >= size:
            return f"{ns // size}{unit}"
    return "1ms"


# --- the frontend's interval (@grafana/data rangeutil) -----------------------------------------

_ROUND_STEPS_MS = [
    (10, 1), (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000),
    (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000), (45000, 30000),
    (90000, 60000), (210000, 120000), (450000, 300000), (750000, 600000), (1050000, 900000),
    (1500000, 1200000), (2700000, 1800000), (5400000, 3600000), (9000000, 7200000),
    (16200000, 10800000), (32400000, 21600000), (86400000, 43200000), (604800000, 86400000),
    (1814400000, 604800000), (3628800000, 2592000000),
]


def round_interval(ms: float) -> int:
    """rangeutil `roundInterval`: a 'nice' interval in milliseconds."""
    for below, nice in _ROUND_STEPS_MS:
        if ms < below:
            return nice
    return 31536000000


def seconds_to_hms(seconds: float) -> str:
    """rangeutil `secondsToHms`: the largest whole unit only (`1m`, not `1m30s`)."""
    years = math.floor(seconds / 31536000)
    if years:
        return f"{years}y"
    days = math.floor((seconds % 31536000) / 86400)
    if days:
        return f"{days}d"
    hours = math.floor(((seconds % 31536000) % 86400) / 3600)
    if hours:
        return f"{hours}h"
    minutes = math.floor((((seconds % 31536000) % 86400) % 3600) / 60)
    if minutes:
        return f"{minutes}m"
    secs = math.floor((((seconds % 31536000) % 86400) % 3600) % 60)
    if secs:
        return f"{secs}s"
    ms = math.floor(seconds * 1000.0)
    return f"{ms}ms" if ms else "less than a millisecond"


_INTERVAL_SECONDS = {"y": 31536000, "M": 2592000, "w": 604800, "d": 86400, "h": 3600, "m": 60,
                     "s": 1, "ms": 0.001}


def interval_to_ms(s: str) -> float:
    """rangeutil `intervalToMs` (`describeInterval`): `5s`, `1m`, or a bare number of seconds."""
    try:
        if float(s):
            return int(float(s)) * 1000
    except ValueError:
        pass
    m = re.search(r"(-?\d+(?:\.\d+)?)(ms|[Mwdhmsy])", s)
    if not m:
        raise ValueError(f"Invalid interval string {s!r}")
    return _INTERVAL_SECONDS[m.group(2)] * 1000 * int(float(m.group(1)))


def calculate_interval(time_from: datetime, time_to: datetime, resolution: int,
                       low_limit: str | None = None) -> tuple[str, int]:
    """rangeutil `calculateInterval`: (`$__interval`, `$__interval_ms`) for a panel of
    `resolution` points (its maxDataPoints, by default its width in pixels), never below the
    data source's `timeInterval`."""
    low = interval_to_ms(low_limit) if low_limit else 1
    span_ms = (unix_nano(time_to) - unix_nano(time_from)) / 1e6
    interval_ms = round_interval(span_ms / resolution)
    if low > interval_ms:
        interval_ms = int(low)
    return seconds_to_hms(interval_ms / 1000), int(interval_ms)


# --- step 1: the frontend's template variables -------------------------------------------------

@dataclass
class Variable:
    """A dashboard variable's current value, as templateSrv holds it."""
    value: str | list[str] | int | float
    multi: bool = False
    include_all: bool = False
    all_values: list[str] = field(default_factory=list)  # options, for "All"


# templateSrv `variableRegex`: $var | [[var:fmt]] | ${var.path:fmt}
_VARIABLE_RE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}", re.ASCII)


def _quote_literal(v: str) -> str:
    return "'" + v.replace("'", "''") + "'"


def sql_interpolate_variable(value, variable: Variable):
    """SqlDatasource `interpolateVariable`."""
    if isinstance(value, str):
        if variable.multi or variable.include_all:
            return _quote_literal(value)
        return value.replace("'", "''")
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return ",".join(_quote_literal(v) for v in value)
    return value


def _format_explicit(value, fmt: str) -> str:
    """The few templateSrv formats (`${var:fmt}`) a SQL author might use."""
    values = value if isinstance(value, list) else [value]
    if fmt in ("raw", "csv"):
        return ",".join(str(v) for v in values)
    if fmt == "sqlstring":
        return ",".join(_quote_literal(str(v)) for v in values)
    if fmt == "singlequote":
        return ",".join("'" + str(v).replace("'", "\\'") + "'" for v in values)
    if fmt == "doublequote":
        return ",".join('"' + str(v).replace('"', '\\"') + '"' for v in values)
    raise NotImplementedError(f"template format {fmt!r}")


def replace_variables(sql: str, variables: dict[str, Variable], interval: str | None = None,
                      interval_ms: int | None = None) -> str:
    """templateSrv `replace` with the SQL data source's formatter. `interval`/`interval_ms` are
    the request's scoped `__interval`/`__interval_ms`."""
    scoped = {}
    if interval is not None:
        scoped["__interval"] = Variable(interval)
    if interval_ms is not None:
        scoped["__interval_ms"] = Variable(interval_ms)

    def repl(m):
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(6)
        var = scoped.get(name) or variables.get(name)
        if var is None:
            return m.group(0)
        value = var.value
        if name not in scoped and (value == ALL or value == [ALL]):
            value = list(var.all_values)
        if fmt:
            return _format_explicit(value, fmt)
        return str(sql_interpolate_variable(value, var))

    return _VARIABLE_RE.sub(repl, sql)


# --- step 2: the backend's global interpolation ------------------------------------------------

def backend_interpolate(sql: str, interval_ns: int, time_from: datetime, time_to: datetime) -> str:
    """sqleng `Interpolate`: plain string replacement, in this order."""
    sql = sql.replace("$__interval_ms", str(interval_ns // 1_000_000))
    sql = sql.replace("$__interval", format_interval(interval_ns))
    sql = sql.replace("$__unixEpochFrom()", str(unix_seconds(time_from)))
    sql = sql.replace("$__unixEpochTo()", str(unix_seconds(time_to)))
    return sql


# --- step 3: the Postgres macro engine ---------------------------------------------------------

def _is_dollar_tag_char(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c == "_")


def strip_sql_comments(sql: str) -> str:
    """macros.go `stripSQLComments`: drops `--` to the end of the line (the newline stays) and
    `/* */`, but not inside '…', "…" or $tag$…$tag$."""
    out = []
    i, n = 0, len(sql)

    def quoted(i, q):
        out.append(q)
        i += 1
        while i < n:
            out.append(sql[i])
            if sql[i] == q:
                i += 1
                if i < n and sql[i] == q:
                    out.append(sql[i])
                    i += 1
                else:
                    break
            else:
                i += 1
        return i

    def dollar_quoted(i, closing):
        out.append(closing)
        i += len(closing)
        while i < n:
            if sql.startswith(closing, i):
                out.append(closing)
                return i + len(closing)
            out.append(sql[i])
            i += 1
        return i

    while i < n:
        c = sql[i]
        if c == "$":
            j = i + 1
            if j < n and sql[j] == "$":
                i = dollar_quoted(i, "$$")
            elif j < n and _is_dollar_tag_char(sql[j]) and not sql[j].isdigit():
                k = j + 1
                while k < n and _is_dollar_tag_char(sql[k]):
                    k += 1
                if k < n and sql[k] == "$":
                    i = dollar_quoted(i, sql[i:k + 1])
                else:
                    out.append(c)
                    i += 1
            else:
                out.append(c)
                i += 1
        elif c in "'\"":
            i = quoted(i, c)
        elif sql.startswith("/*", i):
            i += 2
            while i + 1 < n:
                if sql[i] == "*" and sql[i + 1] == "/":
                    i += 2
                    break
                i += 1
        elif sql.startswith("--", i):
            while i < n and sql[i] != "\n":
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


_MACRO_RE = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")
_GO_FLOAT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?(?i:inf|infinity|nan)")


def _check_fill(fill: str) -> None:
    """sqleng `SetupFillmode`: NULL, previous, or a number."""
    if fill in ("NULL", "previous"):
        return
    if not _GO_FLOAT.fullmatch(fill):
        raise MacroError(f"error parsing fill value {fill}")


def _group_interval(name: str, args: list[str], now: datetime | None) -> int:
    if len(args) < 2:
        raise MacroError(f"macro {name} needs time column and interval and optional fill value")
    try:
        ns = parse_interval(args[1].strip("'"), now)
    except ValueError:
        raise MacroError(f"error parsing interval {args[1]}") from None
    if len(args) == 3:
        _check_fill(args[2])
    return ns


def evaluate_macro(name: str, args: list[str], time_from: datetime, time_to: datetime,
                   timescaledb: bool = False, now: datetime | None = None) -> str:
    """macros.go `evaluateMacro`. `args` is never empty (Go's `strings.Split` of `""` is
    `[""]`), so the missing-column errors cannot happen, as in Grafana."""
    frm, to = rfc3339nano(time_from), rfc3339nano(time_to)
    if not args and name in ("__time", "__timeEpoch", "__timeFilter", "__unixEpochFilter",
                             "__unixEpochNanoFilter"):
        raise MacroError(f"missing time column argument for macro {name}")
    if name == "__time":
        return f'{args[0]} AS "time"'
    if name == "__timeEpoch":
        return f'extract(epoch from {args[0]}) as "time"'
    if name == "__timeFilter":
        return f"{args[0]} BETWEEN '{frm}' AND '{to}'"
    if name == "__timeFrom":
        return f"'{frm}'"
    if name == "__timeTo":
        return f"'{to}'"
    if name == "__timeGroup":
        ns = _group_interval(name, args, now)
        secs = go_duration_seconds(ns)
        if timescaledb:
            return f"time_bucket('{secs:.3f}s',{args[0]})"
        return f"floor(extract(epoch from {args[0]})/{go_fmt_v(secs)})*{go_fmt_v(secs)}"
    if name == "__timeGroupAlias":
        return evaluate_macro("__timeGroup", args, time_from, time_to, timescaledb, now) + ' AS "time"'
    if name == "__unixEpochFilter":
        return (f"{args[0]} >= {unix_seconds(time_from)} AND "
                f"{args[0]} <= {unix_seconds(time_to)}")
    if name == "__unixEpochNanoFilter":
        return f"{args[0]} >= {unix_nano(time_from)} AND {args[0]} <= {unix_nano(time_to)}"
    if name == "__unixEpochNanoFrom":
        return str(unix_nano(time_from))
    if name == "__unixEpochNanoTo":
        return str(unix_nano(time_to))
    if name == "__unixEpochGroup":
        secs = go_fmt_v(go_duration_seconds(_group_interval(name, args, now)))
        return f"floor(({args[0]})/{secs})*{secs}"
    if name == "__unixEpochGroupAlias":
        return evaluate_macro("__unixEpochGroup", args, time_from, time_to, timescaledb, now) + ' AS "time"'
    raise MacroError(f'unknown macro "{name}"')


def expand_macros(sql: str, time_from: datetime, time_to: datetime, timescaledb: bool = False,
                  strip_comments: bool = True, now: datetime | None = None) -> str:
    """macros.go `Interpolate`: the first macro error fails the whole query."""
    if strip_comments:
        sql = strip_sql_comments(sql)
    original = sql
    errors = []

    def repl(m):
        name = m.group(1)
        if name == "__timeGroup":
            idx = original.find(m.group(0))
            if idx >= 0:
                idx += len(m.group(0))
                if idx < len(original) and original[idx] == ",":
                    name = "__timeGroupAlias"
        args = [a.strip(" ") for a in m.group(2).split(",")]
        try:
            return evaluate_macro(name, args, time_from, time_to, timescaledb, now)
        except MacroError as e:
            errors.append(e)
            return "macro_error()"

    sql = _MACRO_RE.sub(repl, original)
    if errors:
        raise errors[0]
    return sql


# --- all three --------------------------------------------------------------------------------

def grafana_sql(raw_sql: str, variables: dict[str, Variable], time_from: datetime,
                time_to: datetime, interval: str, interval_ms: int, **macro_options) -> str:
    """The SQL Grafana sends for a panel target: frontend interpolation, then the backend's."""
    sql = replace_variables(raw_sql, variables, interval, interval_ms)
    sql = backend_interpolate(sql, interval_ms * 1_000_000, time_from, time_to)
    return expand_macros(sql, time_from, time_to, **macro_options)
