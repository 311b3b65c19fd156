"""The chart's alert rules (rules/lms.rules.yaml, and the PrometheusRule made of them) and its
Grafana dashboard (dashboards/lms.json, and the ConfigMap that carries it).

promtool (Prometheus' own parser and rule evaluator; scripts/promtool.sh unpacks it from
Debian's prometheus package, and $PROMTOOL names it) checks the rule file and the rendered
PrometheusRule (`promtool check rules`), runs the alerts' unit tests in alerts.test.yaml
(`promtool test rules`), and parses every dashboard query. The metric and label names of every
expression are held to the contract the binary exports (CONTRACT below).

Run by test_chart.py (python3 helm/tests/test_chart.py [lms-binary]) or by pytest.
"""

import copy
import json
import os
import re
import shutil
import subprocess
import tempfile

import yaml

from skip import SkipTest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
CHART = os.path.join(HERE, "..", "lms")
RULES = os.path.join(CHART, "rules", "lms.rules.yaml")
RULE_TESTS = os.path.join(HERE, "alerts.test.yaml")
DASHBOARD = os.path.join(CHART, "dashboards", "lms.json")

# What the lms binary exports on /metrics: every metric name (histograms by their series) and
# the labels each carries. The rules and the dashboard may use nothing else.
GRPC = {"grpc_type", "grpc_service", "grpc_method"}
HTTP = {"http_request_method", "http_route", "http_response_status_code"}
CONTRACT = {
    "grpc_server_started_total": GRPC,
    "grpc_server_handled_total": GRPC | {"grpc_code"},
    "grpc_server_handling_seconds_bucket": GRPC | {"le"},
    "grpc_server_handling_seconds_sum": GRPC,
    "grpc_server_handling_seconds_count": GRPC,
    "http_server_request_duration_seconds_bucket": HTTP | {"le"},
    "http_server_request_duration_seconds_sum": HTTP,
    "http_server_request_duration_seconds_count": HTTP,
    "lms_build_info": {"version"},
    "process_cpu_seconds_total": set(),
    "process_resident_memory_bytes": set(),
    "process_open_fds": set(),
    "process_start_time_seconds": set(),
    "lms_db_pool_connections": {"component", "state"},
    "lms_db_pool_max_connections": {"component"},
    "lms_outbox_pending_events": {"producer", "destination"},
    "lms_outbox_oldest_pending_age_seconds": {"producer", "destination"},
    "lms_outbox_dead_letters": {"producer", "destination"},
    "lms_certification_scheduler_last_run_timestamp_seconds": set(),
    "lms_service_token_expiry_timestamp_seconds": set(),
    "lms_service_token_renewal_failures_total": set(),
}
# Labels Prometheus adds to every scraped series (the ServiceMonitor's targets).
TARGET_LABELS = {"job", "namespace", "pod", "instance", "container", "service", "endpoint"}
# Prometheus' own series, allowed in alert rules only (not in the dashboard).
SYNTHETIC = {"up": set()}
GRPC_CODES = {
    "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
    "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted",
    "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated",
}  # fmt: skip
REQUIRED_ALERTS = {
    "LMSGrpcServerErrors",
    "LMSHttpServerErrors",
    "LMSGrpcLatencyHigh",
    "LMSOutboxLag",
    "LMSCertificationSchedulerStalled",
    "LMSServiceTokenRenewalFailing",
    "LMSServiceTokenNearExpiry",
    "LMSDatabasePoolSaturated",
}

# --- PromQL: the names an expression uses -------------------------------------------------------
# promtool proves each expression parses; this lexer only finds which metric and label names it
# uses: identifiers inside {...} and in by/without/on/ignoring/group_x (...) are labels,
# identifiers followed by ( are functions or aggregations, keywords are keywords, and every
# other identifier is a metric name.

TOKEN = re.compile(
    r"""
    (?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<duration>\[[^\]]*\])
  | (?P<number>(?:0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)(?:ms|[smhdwy])?)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=(){},])
  | (?P<space>\s+)
    """,
    re.VERBOSE,
)
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
            "group_left", "group_right", "inf", "nan"}  # fmt: skip
# Aggregation operators: `sum by (x) (...)` puts the grouping between the name and its (.
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"}  # fmt: skip
LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}


def tokens(expr):
    position = 0
    out = []
    while position < len(expr):
        match = TOKEN.match(expr, position)
        assert match, f"cannot read {expr[position:]!r} in {expr!r}"
        position = match.end()
        kind = match.lastgroup
        if kind != "space":
            out.append((kind, match.group()))
    return out


def names_in(expr):
    """([(metric, {label: matcher value})], {labels in by/without/on/... lists})"""
    toks = tokens(expr)
    selectors = []
    grouping = set()
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        following = toks[i + 1][1] if i + 1 < len(toks) else None
        if kind == "ident" and text in LABEL_LISTS and following == "(":
            j = i + 2
            while toks[j][1] != ")":
                if toks[j][0] == "ident":
                    grouping.add(toks[j][1])
                j += 1
            i = j + 1
            continue
        if kind == "ident" and text.lower() not in KEYWORDS | AGGREGATIONS and following != "(":
            matchers = {}
            if following == "{":
                j = i + 2
                while toks[j][1] != "}":
                    if toks[j][0] == "ident":
                        label, value = toks[j][1], toks[j + 2][1]
                        matchers[label] = value[1:-1]
                        j += 3
                    else:
                        j += 1
                i = j
            selectors.append((text, matchers))
        elif kind == "op" and text == "{" and (i == 0 or toks[i - 1][0] != "ident"):
            raise AssertionError(f"a selector without a metric name in {expr!r}")
        i += 1
    return selectors, grouping


def check_contract(expr, allowed):
    selectors, grouping = names_in(expr)
    assert selectors, f"no metric in {expr!r}"
    known_labels = set().union(*allowed.values()) | TARGET_LABELS
    for metric, matchers in selectors:
        assert metric in allowed, f"{metric} is not a metric the binary exports: {expr!r}"
        for label in matchers:
            assert label in allowed[metric] | TARGET_LABELS, f"{metric} has no label {label}: {expr!r}"
        if "grpc_code" in matchers:
            codes = re.split(r"[|]", matchers["grpc_code"])
            assert set(codes) <= GRPC_CODES, f"gRPC codes as Go names them: {codes}"
    assert grouping <= known_labels, f"unknown labels {grouping - known_labels} in {expr!r}"
    return {metric for metric, _ in selectors}


# --- promtool --------------------------------------------------------------------------------


def promtool():
    path = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if not path:
        local = os.path.join(ROOT, ".tools", "bin", "promtool")
        path = local if os.access(local, os.X_OK) else None
    if not path:
        if os.environ.get("CI"):
            raise AssertionError("promtool is missing: bash scripts/promtool.sh")
        raise SkipTest("no promtool (bash scripts/promtool.sh fetches it)")
    return path


def run_promtool(*args, cwd=None):
    result = subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def rule_file_groups():
    with open(RULES) as f:
        return yaml.safe_load(f)["groups"]


def all_rules(groups):
    return [rule for group in groups for rule in group["rules"]]


def dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)


def dashboard_queries(board):
    queries = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            queries.append((panel["title"], target["expr"]))
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            inner = re.fullmatch(r"label_values\((.*),\s*[a-zA-Z_]+\)", query)
            assert inner, f"variable {variable['name']}: {query!r}"
            queries.append((f"${variable['name']}", inner.group(1)))
    return queries


def as_promql(expr):
    """A dashboard query with Grafana's variables replaced by what they stand for."""
    return (
        expr.replace("$__rate_interval", "5m")
        .replace("$__interval", "1m")
        .replace("$namespace", ".*")
    )


# --- tests ------------------------------------------------------------------------------------


def test_the_rule_file_passes_promtool_check():
    out = run_promtool("check", "rules", RULES)
    assert "SUCCESS" in out, out


def test_the_alerts_unit_tests_pass():
    """promtool test rules: series in, the alerts that must (and must not) fire out."""
    out = run_promtool("test", "rules", os.path.basename(RULE_TESTS), cwd=HERE)
    assert "SUCCESS" in out, out


def test_the_rules_cover_the_failures_and_use_only_exported_metrics():
    rules = all_rules(rule_file_groups())
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), names
    assert REQUIRED_ALERTS <= set(names), REQUIRED_ALERTS - set(names)
    used = set()
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule
        assert 'job="lms"' in rule["expr"], f"{rule['alert']}: every rule selects job=\"lms\""
        used |= check_contract(rule["expr"], CONTRACT | SYNTHETIC)
    # Every metric of the contract that an alert is about is watched.
    for metric in (
        "grpc_server_handled_total",
        "http_server_request_duration_seconds_count",
        "lms_outbox_oldest_pending_age_seconds",
        "lms_certification_scheduler_last_run_timestamp_seconds",
        "lms_service_token_expiry_timestamp_seconds",
        "lms_service_token_renewal_failures_total",
        "lms_db_pool_connections",
        "lms_db_pool_max_connections",
    ):
        assert metric in used, metric


def test_the_names_lexer_finds_metrics_and_labels():
    selectors, grouping = names_in(
        'sum by (namespace, le) (rate(x_bucket{job="lms", a=~"b|c"}[5m])) / on (pod) group_left y > 3 * 300'
    )
    assert selectors == [("x_bucket", {"job": "lms", "a": "b|c"}), ("y", {})], selectors
    assert grouping == {"namespace", "le", "pod"}, grouping
    try:
        check_contract('rate(grpc_server_handled_total{grpc_code="INTERNAL"}[5m])', CONTRACT)
    except AssertionError as error:
        assert "Go names" in str(error), error
    else:
        raise AssertionError("an upper-case gRPC code passed")
    try:
        check_contract("rate(lms_grpc_server_handled_total[5m])", CONTRACT)
    except AssertionError as error:
        assert "not a metric" in str(error), error
    else:
        raise AssertionError("an unknown metric passed")


def test_the_prometheus_rule_is_the_rule_file():
    from test_chart import by_kind, merged, render, validate_strictly

    _, documents = render()
    assert not by_kind(documents, "PrometheusRule")
    _, documents = render(merged({"prometheusRule": {"enabled": True, "labels": {"release": "prometheus"}}}))
    validate_strictly(documents)
    (rule,) = by_kind(documents, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1", rule
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    assert rule["spec"]["groups"] == rule_file_groups(), "the default scan interval changes nothing"

    # The scheduler's threshold follows certificationScanSeconds; off (0) or no records-service:
    # no scheduler alert.
    _, documents = render(
        merged({"prometheusRule": {"enabled": True}, "components": {"records": {"certificationScanSeconds": 600}}})
    )
    spec = by_kind(documents, "PrometheusRule")[0]["spec"]
    stalled = [r for r in all_rules(spec["groups"]) if r.get("alert") == "LMSCertificationSchedulerStalled"]
    assert len(stalled) == 1 and stalled[0]["expr"].endswith("> 3 * 600"), stalled
    expected = copy.deepcopy(rule_file_groups())
    for r in all_rules(expected):
        if r["alert"] == "LMSCertificationSchedulerStalled":
            r["expr"] = r["expr"].replace("3 * 300", "3 * 600")
    assert spec["groups"] == expected
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "rendered.rules.yaml")
        with open(path, "w") as f:
            yaml.safe_dump({"groups": spec["groups"]}, f)
        assert "SUCCESS" in run_promtool("check", "rules", path)
    for values in (
        {"components": {"records": {"certificationScanSeconds": 0}}},
        {"components": {"records": {"enabled": False}}},
    ):
        _, documents = render(merged({"prometheusRule": {"enabled": True}, **values}))
        names = {r["alert"] for r in all_rules(by_kind(documents, "PrometheusRule")[0]["spec"]["groups"])}
        assert "LMSCertificationSchedulerStalled" not in names, names
        assert "LMSOutboxLag" in names


def test_the_dashboard_is_grafana_json_on_a_datasource_variable():
    board = dashboard()
    assert board["uid"] and board["title"], board.get("uid")
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36, board["schemaVersion"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), ids
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len(panels) >= 10, len(panels)
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["w"] >= 1 and grid["x"] + grid["w"] <= 24 and grid["h"] >= 1, panel["title"]
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]
            assert 'job="lms"' in target["expr"] and "$namespace" in target["expr"], (panel["title"], target["expr"])
    # No two panels overlap.
    cells = set()
    for panel in board["panels"]:
        g = panel["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps at {(x, y)}"
                cells.add((x, y))


def test_every_dashboard_query_parses_and_uses_only_exported_metrics():
    queries = dashboard_queries(dashboard())
    used = set()
    for title, expr in queries:
        used |= check_contract(as_promql(expr), CONTRACT)
    # Every exported metric is on the dashboard.
    assert used == set(CONTRACT), set(CONTRACT) - used
    # promtool parses each query (as a recording rule's expression).
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:query{i}", "expr": as_promql(expr)} for i, (_, expr) in enumerate(queries)],
            }
        ]
    }
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "dashboard.rules.yaml")
        with open(path, "w") as f:
            yaml.safe_dump(rules, f)
        assert "SUCCESS" in run_promtool("check", "rules", path)


def test_the_dashboard_config_map_is_for_grafanas_sidecar():
    from test_chart import by_kind, merged, render, validate_strictly

    _, documents = render()
    assert not [d for d in by_kind(documents, "ConfigMap") if d["metadata"]["name"] == "lms-dashboard"]
    _, documents = render(
        merged({"grafanaDashboard": {"enabled": True, "annotations": {"grafana_folder": "LMS"}}})
    )
    validate_strictly(documents)
    (config_map,) = [d for d in by_kind(documents, "ConfigMap") if d["metadata"]["name"] == "lms-dashboard"]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "LMS"}
    assert json.loads(config_map["data"]["lms.json"]) == dashboard()
