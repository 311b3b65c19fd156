"""Chart tests: a real Helm engine (helm-python-sdk, Helm v4's library) renders and lints
helm/lms; every rendered manifest is validated against the Kubernetes API schemas in strict mode
(kubernetes-validate); values.schema.json and validate.yaml refuse bad values; the rendered
lms.toml is accepted by the real `lms` binary. The same runner runs test_dockerfile.py (the
image's ports), test_monitoring.py (alert rules and dashboard, with promtool) and test_roles.py
(the walk-through's database roles on PostgreSQL, with the binary).

Run: python3 helm/tests/test_chart.py [path/to/lms-binary]
Prints 'chart: N passed, M failed' and exits non-zero on any failure.
"""

import copy
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import traceback

import helm_python
import kubernetes_validate
import yaml

from skip import SkipTest

# kubernetes-validate reads its schemas (the large _definitions.json among them) from disk at
# every call and never changes them: read each once, as the tests validate many renders.
kubernetes_validate.utils.schema_contents = functools.lru_cache(maxsize=None)(
    kubernetes_validate.utils.schema_contents
)
# libyaml's parser when PyYAML has it.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

HERE = os.path.dirname(os.path.abspath(__file__))
CHART = os.path.join(HERE, "..", "lms")
KUBERNETES_VERSION = "1.30.0"
# Kinds from CRDs that the core API schemas do not describe.
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
# The gRPC services (one database each); the gateway is the HTTP edge in front of them.
GRPC_SERVICES = {
    "pathway": 50051,
    "enrolment": 50052,
    "assessment": 50053,
    "records": 50054,
    "notification": 50055,
}
# Every key of lms.toml's [gateway] and nothing else: the binary denies unknown keys.
GATEWAY_KEYS = {
    "listen",
    "cors_origins",
    "requests_per_second",
    "burst",
    "max_body_bytes",
    "request_timeout_seconds",
    "max_in_flight",
}


def load_values(name):
    with open(os.path.join(HERE, name)) as f:
        return yaml.safe_load(f)


# What every install must say and the chart cannot default: the issuer and audience of the
# tokens (required with a JWKS, the default key source), and notification-service's SMTP relay
# and sender (required with email transport smtp, the default).
SMTP = {"smtpHost": "smtp.example.com", "from": "Learning <learning@example.com>"}
REQUIRED = {
    "auth": {"issuer": "https://id.example.com", "audience": "lms"},
    "components": {"notification": {"email": SMTP}},
}


def render(values=None):
    """The chart rendered with `values`; None: the chart's defaults plus REQUIRED."""
    if values is None:
        values = merged({})
    chart = helm_python.Chart.load(CHART)
    try:
        files = chart.render(values, name="lms", namespace="learning")
    finally:
        chart.close()
    documents = []
    for path, text in files.items():
        if not path.endswith(".yaml"):
            continue
        for doc in yaml.load_all(text, Loader=YAML_LOADER):
            if doc:
                documents.append(doc)
    return files, documents


def by_kind(documents, kind):
    return [d for d in documents if d["kind"] == kind]


def named(documents, kind, name):
    found = [d for d in by_kind(documents, kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name, len(found))
    return found[0]


def component_of(document):
    return document["metadata"]["labels"]["app.kubernetes.io/component"]


def lms_toml(files):
    text = yaml.safe_load(files["lms/templates/configmap.yaml"])["data"]["lms.toml"]
    return text, tomllib.loads(text)


def validate_strictly(documents):
    for doc in documents:
        if doc["kind"] in CRD_KINDS:
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def expect_render_failure(values, fragment):
    try:
        render(values)
    except helm_python.HelmError as error:
        assert fragment in str(error), f"expected {fragment!r} in: {error}"
        return
    raise AssertionError(f"rendering did not fail (expected {fragment!r})")


def merged(overrides, required=True):
    """The chart's values.yaml with `overrides` merged in (and REQUIRED first, unless not)."""
    values = copy.deepcopy(load_values(os.path.join("..", "lms", "values.yaml")))

    def merge(into, changes):
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value

    if required:
        merge(values, copy.deepcopy(REQUIRED))
    merge(values, overrides)
    return values


# --- tests ------------------------------------------------------------------------------------


def test_lint_is_clean_with_default_and_production_values():
    everything = {"prometheusRule": {"enabled": True}, "grafanaDashboard": {"enabled": True}}
    for values in (
        merged({}),
        load_values("values-production.yaml"),
        walkthrough_values(),
        merged({**DEV, **everything}),
    ):
        result = helm_python.lint(CHART, values, strict=True, namespace="learning")
        assert not result["errors"], result
        bad = [m for m in result["messages"] if m["severity"] > 1]
        assert not bad, bad


def test_default_render_validates_strictly():
    _, documents = render()
    validate_strictly(documents)
    kinds = sorted({d["kind"] for d in documents})
    # "Pod" is the `helm test` hook; "Job" the migration job.
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "Job",
        "NetworkPolicy",
        "Pod",
        "PodDisruptionBudget",
        "Service",
        "ServiceAccount",
    ], kinds
    hook = by_kind(documents, "Pod")[0]
    assert hook["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert hook["spec"]["containers"][0]["args"][0] == "probe"
    components = {component_of(d) for d in by_kind(documents, "Deployment")}
    assert components == set(GRPC_SERVICES) | {"gateway"}, components


def test_production_render_validates_strictly():
    _, documents = render(load_values("values-production.yaml"))
    validate_strictly(documents)
    assert by_kind(documents, "HorizontalPodAutoscaler"), "autoscaling is on in production"
    assert by_kind(documents, "ServiceMonitor"), "a ServiceMonitor is asked for"
    assert by_kind(documents, "Ingress"), "the Ingress is on in production"


def test_every_component_has_deployment_service_probes_and_policies():
    _, documents = render(load_values("values-production.yaml"))
    for deployment in by_kind(documents, "Deployment"):
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        name = deployment["metadata"]["name"]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["serve", component, "--config", "/etc/lms/lms.toml"]
        if component == "gateway":
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, probe
                assert "grpc" not in container[probe], probe
        else:
            assert container["readinessProbe"]["grpc"]["service"].startswith("lms.")
            assert "grpc" in container["livenessProbe"]
            assert "grpc" in container["startupProbe"]
        for kind in ("Service", "NetworkPolicy", "PodDisruptionBudget", "HorizontalPodAutoscaler"):
            assert any(d["metadata"]["name"] == name for d in by_kind(documents, kind)), (kind, name)


def test_pods_run_locked_down():
    _, documents = render()
    for deployment in by_kind(documents, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        security = pod["containers"][0]["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]


def test_secrets_come_from_existing_secrets_never_values():
    _, documents = render(load_values("values-production.yaml"))
    for deployment in by_kind(documents, "Deployment"):
        env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        database = [e for e in env if e["name"].endswith("__DATABASE_URL")]
        if component_of(deployment) == "gateway":
            assert not database, env  # the gateway has no database
            continue
        assert database and "secretKeyRef" in database[0]["valueFrom"], env
        assert all(
            "value" not in e for e in env if any(w in e["name"] for w in ("SECRET", "DATABASE", "PASSWORD"))
        ), env


def test_network_policy_admits_only_the_suite_to_grpc():
    _, documents = render()
    for policy in by_kind(documents, "NetworkPolicy"):
        if component_of(policy) == "gateway":
            continue
        rule = policy["spec"]["ingress"][0]
        assert rule["ports"] == [{"port": "grpc", "protocol": "TCP"}]
        assert rule["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "lms"


def test_config_changes_roll_the_pods():
    _, before = render()
    _, after = render(merged({"config": {"logLevel": "debug"}}))

    def checksum(documents):
        deployment = by_kind(documents, "Deployment")[0]
        return deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum(before) != checksum(after)


def test_the_schema_rejects_bad_values():
    expect_render_failure(merged({"components": {"pathway": {"replicas": "two"}}}), "replicas")
    expect_render_failure(merged({"config": {"logFormat": "xml"}}), "logFormat")
    expect_render_failure(merged({"components": {"gatewy": {"enabled": True}}}), "gatewy")
    expect_render_failure(merged({"replicaCount": 3}), "replicaCount")
    expect_render_failure(merged({"metrics": {"port": 70000}}), "port")
    expect_render_failure(
        merged({"components": {"gateway": {"requestsPerSecond": "fifty"}}}),
        "/components/gateway/requestsPerSecond",
    )
    expect_render_failure(
        merged({"components": {"gateway": {"requestTimeoutSeconds": 0}}}),
        "/components/gateway/requestTimeoutSeconds",
    )
    expect_render_failure(merged({"components": {"gateway": {"dbPoolSize": 8}}}), "dbPoolSize")
    expect_render_failure(
        merged({"components": {"gateway": {"corsOrigins": "https://portal.example.com"}}}),
        "corsOrigins",
    )
    expect_render_failure(merged({"ingress": {"hostname": "lms.example.com"}}), "hostname")
    expect_render_failure(merged({"networkPolicy": {"gatewayFrom": "everyone"}}), "gatewayFrom")
    expect_render_failure(merged({"auth": {"bindingsCacheSeconds": -1}}), "bindingsCacheSeconds")


def test_bad_combinations_stop_the_render():
    expect_render_failure(merged({"auth": {"jwksFileKey": ""}}), "exactly one of")
    expect_render_failure(
        merged({"auth": {"jwksUrl": "https://id.example.com/jwks"}}), "exactly one of"
    )
    expect_render_failure(
        merged({"auth": {"existingSecret": ""}}), "auth.existingSecret is required"
    )
    expect_render_failure(
        merged({"auth": {"serviceTokenKey": ""}}), "auth.serviceTokenKey is required"
    )
    expect_render_failure(
        merged(
            {
                "components": {
                    "pathway": {
                        "autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 2}
                    }
                }
            }
        ),
        "minReplicas",
    )


def test_services_find_each_other_and_carry_their_own_identity():
    files, documents = render(load_values("values-production.yaml"))
    text = yaml.safe_load(files["lms/templates/configmap.yaml"])["data"]["lms.toml"]
    config = tomllib.loads(text)
    # Each component is reached through its headless Service, so callers see every replica
    # (who calls whom, and where events go, the binary knows: the topology).
    assert config["topology"] == {
        name: f"http://lms-{name}-headless:{port}" for name, port in GRPC_SERVICES.items()
    }, config["topology"]
    assert 'service_token_file = "/etc/lms/service-token/token"' in text, text
    # Scoped administration's cache lifetime, settable per deployment.
    assert config["auth"]["bindings_cache_seconds"] == 5, config["auth"]
    _, tuned = lms_toml(render(merged({"auth": {"bindingsCacheSeconds": 30}}))[0])
    assert tuned["auth"]["bindings_cache_seconds"] == 30, tuned["auth"]
    services = {s["metadata"]["name"]: s for s in by_kind(documents, "Service")}
    assert "lms-pathway" in services, services
    for name, port in GRPC_SERVICES.items():
        headless = services[f"lms-{name}-headless"]["spec"]
        assert headless["clusterIP"] == "None", headless
        assert headless["ports"][0]["port"] == port, headless
    assert "lms-gateway-headless" not in services
    for deployment in by_kind(documents, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        if component_of(deployment) == "gateway":
            # It calls with each caller's own token and holds no identity of its own.
            assert "service-token" not in volumes, volumes
            continue
        assert volumes["service-token"]["secret"]["items"] == [
            {"key": "service-token", "path": "token"}
        ]


def test_service_identity_from_kubernetes_service_account_tokens():
    files, documents = render(merged({"auth": {"serviceIdentity": "kubernetes"}}))
    validate_strictly(documents)
    _, config = lms_toml(files)
    assert config["auth"]["service_token_file"] == "/var/run/secrets/lms/serviceaccount/token"
    assert config["auth"]["kubernetes"] == {
        "issuer": "https://kubernetes.default.svc.cluster.local",
        "jwks_url": "",
        "audience": "lms",
        "service_accounts": ["learning:lms"],
    }, config["auth"]
    for deployment in by_kind(documents, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "lms"
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "service-token" not in volumes
        if component_of(deployment) == "gateway":
            assert "serviceaccount-token" not in volumes
            continue
        token = volumes["serviceaccount-token"]["projected"]["sources"][0]["serviceAccountToken"]
        assert token == {"path": "token", "audience": "lms", "expirationSeconds": 3600}, token


def test_service_identity_from_client_credentials():
    files, documents = render(
        merged(
            {
                "auth": {
                    "serviceIdentity": "clientCredentials",
                    "clientCredentials": {
                        "discoveryUrl": "https://id.example.com/.well-known/openid-configuration",
                        "resource": "urn:lms",
                    },
                }
            }
        )
    )
    validate_strictly(documents)
    _, config = lms_toml(files)
    assert "service_token_file" not in config["auth"], config["auth"]
    assert config["auth"]["client_credentials"]["client_secret_file"] == (
        "/etc/lms/client-secret/secret"
    )
    assert config["auth"]["client_credentials"]["resource"] == "urn:lms"
    for deployment in by_kind(documents, "Deployment"):
        name = component_of(deployment)
        pod = deployment["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        env = {e["name"]: e for e in pod["containers"][0].get("env", [])}
        if name == "gateway":
            # The gateway calls with each caller's own token: no identity of its own.
            assert "client-secret" not in volumes
            assert "LMS__AUTH__CLIENT_CREDENTIALS__CLIENT_ID" not in env
            continue
        assert env["LMS__AUTH__CLIENT_CREDENTIALS__CLIENT_ID"]["value"] == f"lms-{name}"
        assert volumes["client-secret"]["secret"]["items"] == [
            {"key": f"{name}-client-secret", "path": "secret"}
        ]
    expect_render_failure(
        merged({"auth": {"serviceIdentity": "clientCredentials"}}),
        "tokenUrl or discoveryUrl",
    )


def test_the_gateway_serves_http_without_a_database():
    _, documents = render()
    deployment = named(documents, "Deployment", "lms-gateway")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["serve", "gateway", "--config", "/etc/lms/lms.toml"]
    assert not any("DATABASE" in e["name"] for e in container.get("env", [])), container
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "http": 8080,
        "metrics": 9464,
    }
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, probe
    # It verifies tokens like the services: the same config and key mounts.
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["config"] == "/etc/lms/lms.toml" and mounts["jwks"] == "/etc/lms/jwks", mounts
    service = named(documents, "Service", "lms-gateway")
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP", "appProtocol": "http"},
        {"name": "metrics", "port": 9464, "targetPort": "metrics", "protocol": "TCP"},
    ], service["spec"]["ports"]
    named(documents, "PodDisruptionBudget", "lms-gateway")


def test_the_gateway_finds_the_five_services():
    production = load_values("values-production.yaml")
    for values in (None, production):
        files, _ = render(values)
        _, config = lms_toml(files)
        gateway = config["gateway"]
        # Exactly the keys the binary knows: no db_pool_size, nothing unknown.
        assert set(gateway) == GATEWAY_KEYS, sorted(gateway)
        assert gateway["listen"] == "0.0.0.0:8080"
        for name, port in GRPC_SERVICES.items():
            # The services' own sections keep their keys.
            assert config[name]["listen"] == f"0.0.0.0:{port}", config[name]
            assert "db_pool_size" in config[name], config[name]
    assert config["gateway"] == {
        "listen": "0.0.0.0:8080",
        "cors_origins": ["https://portal.example.com", "https://admin.example.com"],
        "requests_per_second": 20,
        "burst": 40,
        "max_body_bytes": 1048576,
        "request_timeout_seconds": 30,
        "max_in_flight": 2048,
    }, config["gateway"]
    files, _ = render()
    _, config = lms_toml(files)
    assert config["gateway"]["cors_origins"] == []
    assert config["gateway"]["requests_per_second"] == 50 and config["gateway"]["burst"] == 100


def test_the_ingress_points_at_the_gateway_only_when_enabled():
    _, documents = render()
    assert not by_kind(documents, "Ingress")
    _, documents = render(merged({"ingress": {"enabled": True}}))
    validate_strictly(documents)
    ingress = named(documents, "Ingress", "lms-gateway")
    assert "ingressClassName" not in ingress["spec"], ingress
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "lms.example.com"
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/" and path["pathType"] == "Prefix", path
    backend = path["backend"]["service"]
    assert backend["name"] == "lms-gateway", backend
    service = named(documents, "Service", backend["name"])
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}, backend
    assert backend["port"] == {"name": "http"}, backend

    _, documents = render(load_values("values-production.yaml"))
    ingress = named(documents, "Ingress", "lms-gateway")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [
        {"secretName": "lms-example-com-tls", "hosts": ["lms.example.com"]}
    ], ingress["spec"]
    # No gateway, no Ingress.
    _, documents = render(
        merged({"ingress": {"enabled": True}, "components": {"gateway": {"enabled": False}}})
    )
    assert not by_kind(documents, "Ingress")
    assert not any(d["metadata"]["name"] == "lms-gateway" for d in documents)
    hook = by_kind(documents, "Pod")[0]
    assert "probe-gateway" not in {c["name"] for c in hook["spec"]["containers"]}


def test_network_policy_opens_the_gateway_unless_gateway_from_is_set():
    _, documents = render()
    policy = named(documents, "NetworkPolicy", "lms-gateway")
    assert policy["spec"]["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}], policy

    production = load_values("values-production.yaml")
    _, documents = render(production)
    policy = named(documents, "NetworkPolicy", "lms-gateway")
    http, metrics, scrape = policy["spec"]["ingress"]
    assert http["ports"] == [{"port": "http", "protocol": "TCP"}], http
    # The listed peers, plus the suite's own pods (`helm test`).
    assert http["from"][1:] == production["networkPolicy"]["gatewayFrom"], http
    assert http["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "lms"
    assert metrics["ports"] == [{"port": "metrics", "protocol": "TCP"}], metrics
    # With the ServiceMonitor: Prometheus' pods (networkPolicy.prometheusFrom).
    assert scrape["from"] == load_values(os.path.join("..", "lms", "values.yaml"))["networkPolicy"][
        "prometheusFrom"
    ], scrape
    assert scrape["ports"] == [{"port": "metrics", "protocol": "TCP"}], scrape
    # The gRPC services still admit only the suite's own pods (which include the gateway).
    for name in GRPC_SERVICES:
        rule = named(documents, "NetworkPolicy", f"lms-{name}")["spec"]["ingress"][0]
        assert rule["ports"] == [{"port": "grpc", "protocol": "TCP"}], rule


def test_helm_test_probes_the_gateway_over_http():
    _, documents = render(load_values("values-production.yaml"))
    hook = by_kind(documents, "Pod")[0]
    probes = {c["name"]: c["args"] for c in hook["spec"]["containers"]}
    assert probes["probe-gateway"] == ["probe", "lms-gateway:8080", "--http", "/healthz"], probes
    for name, port in GRPC_SERVICES.items():
        args = probes[f"probe-{name}"]
        assert args[:3] == ["probe", f"lms-{name}:{port}", "--service"], args
        assert args[3].startswith(f"lms.{name}.v1."), args


DEV = {
    "devSecrets": {
        "create": True,
        "databaseUrls": {
            name: f"postgres://lms:lms@postgres:5432/{name}" for name in GRPC_SERVICES
        },
    },
    "auth": {"jwksFileKey": ""},
}
# The CA bundle of docs/operations.md: PostgreSQL with sslmode=verify-full.
CA_BUNDLE = {
    "extraEnv": [{"name": "PGSSLROOTCERT", "value": "/etc/lms/ca/ca.crt"}],
    "extraVolumes": [
        {
            "name": "postgres-ca",
            "secret": {"secretName": "postgres-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]},
        }
    ],
    "extraVolumeMounts": [{"name": "postgres-ca", "mountPath": "/etc/lms/ca", "readOnly": True}],
}


def container_env(container):
    return {e["name"]: e for e in container.get("env", [])}


def hook_weight(document):
    return int(document["metadata"]["annotations"]["helm.sh/hook-weight"])


def hooks_of(document):
    return set(document["metadata"].get("annotations", {}).get("helm.sh/hook", "").split(","))


def test_bare_defaults_ask_for_the_issuer_and_audience():
    # The schema stops a JWKS without issuer or audience...
    expect_render_failure(merged({}, required=False), "/auth/issuer")
    expect_render_failure(merged({"auth": {"issuer": "https://id.example.com"}}, required=False), "/auth/audience")
    expect_render_failure(
        merged({"auth": {"jwksUrl": "https://id.example.com/jwks", "jwksFileKey": "", "audience": "lms"}}, required=False),
        "/auth/issuer",
    )
    # ...and so does the template, in words, when the schema is skipped
    # (helm install --skip-schema-validation).
    with tempfile.TemporaryDirectory() as directory:
        chart = os.path.join(directory, "lms")
        shutil.copytree(CHART, chart)
        os.remove(os.path.join(chart, "values.schema.json"))
        loaded = helm_python.Chart.load(chart)
        try:
            loaded.render(merged({}, required=False), name="lms", namespace="learning")
        except helm_python.HelmError as error:
            assert "auth.issuer and auth.audience are required with a JWKS" in str(error), error
        else:
            raise AssertionError("a JWKS without issuer and audience rendered")
        finally:
            loaded.close()
    # HS256 (development) needs neither; notification-service's email needs its relay and
    # sender with transport smtp (the default), and nothing with transport none.
    hs256 = {"auth": {"jwksFileKey": "", "hs256SecretKey": "hs256"}}
    expect_render_failure(merged(hs256, required=False), "smtpHost and from are required with transport smtp")
    render(merged({**hs256, "components": {"notification": {"email": SMTP}}}, required=False))
    render(merged({**hs256, "components": {"notification": {"email": {"transport": "none"}}}}, required=False))


def test_the_migration_job_runs_before_the_services_with_their_config_and_secrets():
    files, documents = render(load_values("values-production.yaml"))
    validate_strictly(documents)
    (job,) = by_kind(documents, "Job")
    assert job["metadata"]["name"] == "lms-migrate"
    assert hooks_of(job) == {"pre-install", "pre-upgrade"}, job["metadata"]
    assert "before-hook-creation" in job["metadata"]["annotations"]["helm.sh/hook-delete-policy"]
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    # Hooks run before the release's ServiceAccount exists: the job uses the namespace's default.
    assert "serviceAccountName" not in pod and pod["automountServiceAccountToken"] is False
    assert pod["imagePullSecrets"] == [{"name": "registry-credentials"}]
    # Whatever the job reads that the chart renders is a hook of the same phases, created first.
    rendered = {(d["kind"], d["metadata"]["name"]): d for d in documents}
    config_name = {v["name"]: v for v in pod["volumes"]}["config"]["configMap"]["name"]
    config = rendered[("ConfigMap", config_name)]
    assert hooks_of(config) == hooks_of(job) and hook_weight(config) < hook_weight(job), config["metadata"]
    # ...and holds the services' own lms.toml.
    assert config["data"]["lms.toml"] == lms_toml(files)[0]
    deployments = {component_of(d): d for d in by_kind(documents, "Deployment")}
    containers = {c["name"]: c for c in pod["containers"]}
    assert set(containers) == {f"migrate-{name}" for name in GRPC_SERVICES}, containers
    for name in GRPC_SERVICES:
        container = containers[f"migrate-{name}"]
        assert container["args"] == ["migrate", name, "--config", "/etc/lms/lms.toml"]
        assert container["image"] == "registry.internal/lms:0.1.0"
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        service = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        key = f"LMS__{name.upper()}__DATABASE_URL"
        # Only its own database, from the very Secret the service reads.
        assert [e["name"] for e in container["env"]] == [key], container["env"]
        assert container_env(container)[key] == container_env(service)[key]
    # Every Deployment leaves migrations to the job.
    for deployment in by_kind(documents, "Deployment"):
        env = container_env(deployment["spec"]["template"]["spec"]["containers"][0])
        assert env["LMS__MIGRATE_ON_START"] == {"name": "LMS__MIGRATE_ON_START", "value": "false"}, env

    # A DDL-capable role for the job only.
    _, documents = render(
        merged({"components": {"records": {"migrationDatabase": {"existingSecret": "records-owner", "key": "uri"}}}})
    )
    job = by_kind(documents, "Job")[0]
    containers = {c["name"]: c for c in job["spec"]["template"]["spec"]["containers"]}
    ref = container_env(containers["migrate-records"])["LMS__RECORDS__DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "records-owner", "key": "uri"}, ref
    ref = container_env(containers["migrate-pathway"])["LMS__PATHWAY__DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "lms-pathway-database", "key": "url"}, ref
    records = named(documents, "Deployment", "lms-records")["spec"]["template"]["spec"]["containers"][0]
    ref = container_env(records)["LMS__RECORDS__DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "lms-records-database", "key": "url"}, ref

    # Without the job, the services migrate at start as before.
    _, documents = render(merged({"migrations": {"job": {"enabled": False}}}))
    assert not by_kind(documents, "Job")
    assert not [d for d in by_kind(documents, "ConfigMap") if d["metadata"]["name"] == "lms-migrate"]
    for deployment in by_kind(documents, "Deployment"):
        env = container_env(deployment["spec"]["template"]["spec"]["containers"][0])
        assert "LMS__MIGRATE_ON_START" not in env, env
    # Only the components that are deployed are migrated.
    _, documents = render(merged({"components": {"assessment": {"enabled": False}}}))
    names = {c["name"] for c in by_kind(documents, "Job")[0]["spec"]["template"]["spec"]["containers"]}
    assert names == {"migrate-pathway", "migrate-enrolment", "migrate-records", "migrate-notification"}, names


def test_development_secrets_are_created_only_when_asked():
    _, documents = render()
    assert not by_kind(documents, "Secret"), "the chart creates no Secret by default"
    files, documents = render(merged(DEV))
    validate_strictly(documents)
    (secret,) = by_kind(documents, "Secret")
    assert secret["metadata"]["name"] == "lms-dev"
    # Before the migration job that reads it.
    assert hooks_of(secret) == {"pre-install", "pre-upgrade"}
    assert hook_weight(secret) < hook_weight(by_kind(documents, "Job")[0])
    data = secret["stringData"]
    assert len(data["hs256-secret"]) >= 32, "generated when not given"
    for name in GRPC_SERVICES:
        assert data[f"{name}-database-url"] == f"postgres://lms:lms@postgres:5432/{name}"
    job = by_kind(documents, "Job")[0]
    pods = [d["spec"]["template"]["spec"] for d in by_kind(documents, "Deployment")] + [job["spec"]["template"]["spec"]]
    for pod in pods:
        for container in pod["containers"]:
            for variable in container.get("env", []):
                if "valueFrom" in variable:
                    assert variable["valueFrom"]["secretKeyRef"]["name"] == "lms-dev", variable
    for deployment in by_kind(documents, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        env = container_env(pod["containers"][0])
        assert env["LMS__AUTH__HS256_SECRET"]["valueFrom"]["secretKeyRef"] == {"name": "lms-dev", "key": "hs256-secret"}
        volumes = {v["name"] for v in pod["volumes"]}
        assert not volumes & {"jwks", "service-token"}, volumes  # services mint their own tokens
    notes = files["lms/templates/NOTES.txt"]
    assert "WARNING: devSecrets.create is on" in notes and "development only" in notes, notes
    _, config = lms_toml(files)
    assert "service_token_file" not in config["auth"] and "jwks_file" not in config["auth"], config["auth"]
    # A given secret is used as it is; a missing URL, or a second key source, stops the render.
    _, documents = render(merged({**DEV, "devSecrets": {**DEV["devSecrets"], "hs256Secret": "s" * 40}}))
    assert by_kind(documents, "Secret")[0]["stringData"]["hs256-secret"] == "s" * 40
    expect_render_failure(
        merged({**DEV, "devSecrets": {"create": True, "databaseUrls": {"pathway": "postgres://x/p"}}}),
        "devSecrets.databaseUrls.assessment is required",
    )
    expect_render_failure(merged({"devSecrets": DEV["devSecrets"]}), "exactly one of")


def test_global_values_reach_every_resource():
    _, documents = render(
        merged(
            {
                "global": {
                    "imageRegistry": "registry.example.com/",
                    "imagePullSecrets": [{"name": "shared-pull"}],
                    "labels": {"team": "learning", "cost-center": "l-and-d"},
                },
                "imagePullSecrets": [{"name": "own-pull"}],
                "metrics": {"serviceMonitor": {"enabled": True}},
                "prometheusRule": {"enabled": True},
                "grafanaDashboard": {"enabled": True},
                "ingress": {"enabled": True},
            }
        )
    )
    validate_strictly(documents)
    for document in documents:
        labels = document["metadata"]["labels"]
        assert labels["team"] == "learning" and labels["cost-center"] == "l-and-d", document["metadata"]
    pods = [d["spec"]["template"] for d in by_kind(documents, "Deployment") + by_kind(documents, "Job")]
    pods += [{"metadata": p["metadata"], "spec": p["spec"]} for p in by_kind(documents, "Pod")]
    for pod in pods:
        assert pod["metadata"]["labels"]["team"] == "learning"
        assert pod["spec"]["imagePullSecrets"] == [{"name": "shared-pull"}, {"name": "own-pull"}]
        for container in pod["spec"]["containers"]:
            assert container["image"] == "registry.example.com/lms:0.1.0", container["image"]
    # Selectors stay as they were: a label added later must not orphan running pods.
    for deployment in by_kind(documents, "Deployment"):
        assert "team" not in deployment["spec"]["selector"]["matchLabels"]


def test_extra_env_and_volumes_carry_a_ca_bundle_to_services_and_the_job():
    values = merged(
        {
            **CA_BUNDLE,
            "components": {
                "records": {
                    "extraEnv": [{"name": "RUST_LOG", "value": "info,records_service=debug"}],
                    "extraVolumes": [{"name": "scratch", "emptyDir": {}}],
                    "extraVolumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
                }
            },
        }
    )
    _, documents = render(values)
    validate_strictly(documents)
    job = by_kind(documents, "Job")[0]["spec"]["template"]["spec"]
    pods = {component_of(d): d["spec"]["template"]["spec"] for d in by_kind(documents, "Deployment")}
    for name, pod in pods.items():
        container = pod["containers"][0]
        env = container_env(container)
        assert env["PGSSLROOTCERT"]["value"] == "/etc/lms/ca/ca.crt", name
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        assert mounts["postgres-ca"]["mountPath"] == "/etc/lms/ca", name
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["postgres-ca"]["secret"]["secretName"] == "postgres-ca", name
        assert ("RUST_LOG" in env) == (name == "records"), name
        assert ("scratch" in volumes) == (name == "records"), name
    for container in job["containers"]:
        env = container_env(container)
        assert env["PGSSLROOTCERT"]["value"] == "/etc/lms/ca/ca.crt"
        mounts = {m["name"] for m in container["volumeMounts"]}
        assert "postgres-ca" in mounts
        assert ("scratch" in mounts) == (container["name"] == "migrate-records"), container["name"]
    volume_names = [v["name"] for v in job["volumes"]]
    assert len(volume_names) == len(set(volume_names)), volume_names
    assert {"postgres-ca", "scratch"} <= set(volume_names), volume_names
    expect_render_failure(merged({"extraEnv": [{"value": "no name"}]}), "extraEnv")


def test_pods_sleep_before_sigterm_with_kubernetes_own_action():
    with open(os.path.join(CHART, "Chart.yaml")) as f:
        kube_version = yaml.safe_load(f)["kubeVersion"]
    # The sleep action is beta (on by default) from 1.30: the chart asks for no less.
    assert kube_version == ">=1.30.0-0", kube_version
    assert KUBERNETES_VERSION == "1.30.0"
    _, documents = render()
    for deployment in by_kind(documents, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert container["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}, container.get("lifecycle")
        # Sleep, then the server's grace (20 s), then 10 s to spare.
        assert pod["terminationGracePeriodSeconds"] == 35, pod["terminationGracePeriodSeconds"]
    _, documents = render(merged({"preStopSleepSeconds": 0}))
    for deployment in by_kind(documents, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert "lifecycle" not in pod["containers"][0]
        assert pod["terminationGracePeriodSeconds"] == 30
    expect_render_failure(merged({"preStopSleepSeconds": -1}), "preStopSleepSeconds")


def test_replicas_spread_over_zones_and_nodes():
    _, documents = render()
    for deployment in by_kind(documents, "Deployment"):
        template = deployment["spec"]["template"]
        constraints = template["spec"]["topologySpreadConstraints"]
        assert [c["topologyKey"] for c in constraints] == [
            "topology.kubernetes.io/zone",
            "kubernetes.io/hostname",
        ], constraints
        for constraint in constraints:
            assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"
            assert constraint["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
            assert constraint["matchLabelKeys"] == ["pod-template-hash"]
    own = {"maxSkew": 2, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
           "labelSelector": {"matchLabels": {"app.kubernetes.io/part-of": "lms"}}}  # fmt: skip
    _, documents = render(
        merged({"components": {"pathway": {"topologySpreadConstraints": []}, "records": {"topologySpreadConstraints": [own]}}})
    )
    validate_strictly(documents)
    assert "topologySpreadConstraints" not in named(documents, "Deployment", "lms-pathway")["spec"]["template"]["spec"]
    records = named(documents, "Deployment", "lms-records")["spec"]["template"]["spec"]
    assert records["topologySpreadConstraints"] == [own], records["topologySpreadConstraints"]
    _, documents = render(merged({"topologySpreadConstraints": []}))
    for deployment in by_kind(documents, "Deployment"):
        assert "topologySpreadConstraints" not in deployment["spec"]["template"]["spec"]


def test_prometheus_scrapes_through_the_network_policy_with_the_service_monitor():
    _, documents = render()
    for policy in by_kind(documents, "NetworkPolicy"):
        assert not [r for r in policy["spec"]["ingress"] if {"port": "metrics", "protocol": "TCP"} in r["ports"]]
    prometheus = [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        }
    ]
    _, documents = render(
        merged({"metrics": {"serviceMonitor": {"enabled": True}}, "networkPolicy": {"prometheusFrom": prometheus}})
    )
    (monitor,) = by_kind(documents, "ServiceMonitor")
    assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/part-of"  # job="lms", as the rules select
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    policies = by_kind(documents, "NetworkPolicy")
    assert len(policies) == len(GRPC_SERVICES) + 1
    for policy in policies:
        scrape = [r for r in policy["spec"]["ingress"] if r["ports"] == [{"port": "metrics", "protocol": "TCP"}]]
        assert [r["from"] for r in scrape] == [prometheus], policy["metadata"]["name"]
        # The policy's pods are the pods the ServiceMonitor's Services select.
        service = named(documents, "Service", policy["metadata"]["name"])
        assert policy["spec"]["podSelector"]["matchLabels"] == service["spec"]["selector"]
        assert "metrics" in {p["name"] for p in service["spec"]["ports"]}
        assert all(service["metadata"]["labels"][k] == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())


def test_the_topology_reaches_every_replica_through_headless_services():
    """Each [topology] address names a headless Service (clusterIP: None) that selects exactly
    that component's pods on their gRPC port: its name resolves to every ready replica, so the
    callers' client-side balancing (lms/tests/e2e/replicas.rs) spreads calls over them. The
    ClusterIP Services stay for other callers (helm test, grpcurl, the Ingress)."""
    for values in (None, load_values("values-production.yaml")):
        files, documents = render(values)
        _, config = lms_toml(files)
        services = {s["metadata"]["name"]: s for s in by_kind(documents, "Service")}
        deployments = {component_of(d): d for d in by_kind(documents, "Deployment")}
        assert set(config["topology"]) == set(GRPC_SERVICES)
        for name, address in config["topology"].items():
            match = re.fullmatch(r"http://([a-z0-9-]+):(\d+)", address)
            assert match, address
            host, port = match.group(1), int(match.group(2))
            service = services[host]["spec"]
            assert service["clusterIP"] == "None", (name, service)
            assert service.get("publishNotReadyAddresses") is not True
            pod = deployments[name]["spec"]["template"]
            assert service["selector"] == deployments[name]["spec"]["selector"]["matchLabels"]
            assert all(pod["metadata"]["labels"][k] == v for k, v in service["selector"].items())
            # No other component's pods answer to this name.
            for other, deployment in deployments.items():
                if other != name:
                    labels = deployment["spec"]["template"]["metadata"]["labels"]
                    assert not all(labels.get(k) == v for k, v in service["selector"].items()), (name, other)
            (service_port,) = service["ports"]
            assert service_port["port"] == port == GRPC_SERVICES[name]
            ports = {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}
            assert ports[service_port["targetPort"]] == port
            assert config[name]["listen"] == f"0.0.0.0:{port}"
            # The ClusterIP Service of the same component is still there.
            assert services[f"lms-{name}"]["spec"].get("clusterIP") != "None"


def test_records_scans_certifications_at_the_configured_interval():
    files, _ = render()
    assert lms_toml(files)[1]["records"]["certification_scan_seconds"] == 300
    files, _ = render(merged({"components": {"records": {"certificationScanSeconds": 0}}}))
    assert lms_toml(files)[1]["records"]["certification_scan_seconds"] == 0
    expect_render_failure(merged({"components": {"pathway": {"certificationScanSeconds": 60}}}), "certificationScanSeconds")


def test_records_names_the_gateways_public_address_in_cmi5_launches():
    files, _ = render()
    # Unset: the binary takes the portal's public address.
    assert "public_url" not in lms_toml(files)[1]["records"]
    files, _ = render(merged({"components": {"records": {"publicUrl": "https://lms.example.com"}}}))
    assert lms_toml(files)[1]["records"]["public_url"] == "https://lms.example.com"
    expect_render_failure(merged({"components": {"records": {"publicUrl": "lms.example.com"}}}), "publicUrl")
    expect_render_failure(merged({"components": {"enrolment": {"publicUrl": "https://lms.example.com"}}}), "publicUrl")


def test_records_bounds_a_requests_attachments():
    files, _ = render()
    assert lms_toml(files)[1]["records"]["max_attachment_bytes"] == 268435456
    files, _ = render(merged({"components": {"records": {"maxAttachmentBytes": 1048576}}}))
    assert lms_toml(files)[1]["records"]["max_attachment_bytes"] == 1048576
    expect_render_failure(merged({"components": {"records": {"maxAttachmentBytes": 0}}}), "maxAttachmentBytes")
    expect_render_failure(merged({"components": {"pathway": {"maxAttachmentBytes": 1}}}), "maxAttachmentBytes")


def test_pathway_serves_course_packages_at_the_gateways_public_address():
    files, _ = render()
    pathway = lms_toml(files)[1]["pathway"]
    assert "public_url" not in pathway and pathway["max_package_bytes"] == 268435456, pathway
    files, _ = render(merged({"components": {"pathway": {"publicUrl": "https://lms.example.com", "maxPackageBytes": 1048576}}}))
    pathway = lms_toml(files)[1]["pathway"]
    assert pathway["public_url"] == "https://lms.example.com" and pathway["max_package_bytes"] == 1048576, pathway
    expect_render_failure(merged({"components": {"pathway": {"publicUrl": "lms.example.com"}}}), "publicUrl")
    expect_render_failure(merged({"components": {"pathway": {"maxPackageBytes": 0}}}), "maxPackageBytes")


def test_records_forwarding_endpoints_follow_the_operators_networks():
    files, _ = render()
    assert lms_toml(files)[1]["records"]["forwarding"] == {"allow_http": False, "allowed_networks": []}
    forwarding = {"allowHttp": True, "allowedNetworks": ["10.20.0.0/16", "fd00::1"]}
    files, _ = render(merged({"components": {"records": {"forwarding": forwarding}}}))
    assert lms_toml(files)[1]["records"]["forwarding"] == {
        "allow_http": True,
        "allowed_networks": ["10.20.0.0/16", "fd00::1"],
    }
    for bad, at in (
        ({"allowHttp": "yes"}, "/components/records/forwarding/allowHttp"),
        ({"allowedNetworks": ["intranet"]}, "/components/records/forwarding/allowedNetworks/0"),
        ({"allowedNetwork": []}, "allowedNetwork"),
    ):
        expect_render_failure(merged({"components": {"records": {"forwarding": bad}}}), at)


def test_notification_settings_reach_its_config_and_its_smtp_password_comes_from_a_secret():
    files, documents = render()
    _, config = lms_toml(files)
    assert config["notification"] == {
        "listen": "0.0.0.0:50055",
        "db_pool_size": 8,
        "reminder_scan_seconds": 60,
        "due_soon_days": [14, 7, 1],
        "escalation_days": 7,
        "digest_hour_utc": 7,
        "session_reminder_hours": 24,
        # Unset strings (smtpUsername, portalUrl) are left to the binary's defaults.
        "email": {
            "transport": "smtp",
            "from": SMTP["from"],
            "smtp_host": SMTP["smtpHost"],
            "smtp_port": 587,
            "smtp_tls": "starttls",
        },
        "webhooks": WEBHOOK_DEFAULTS,
    }, config["notification"]
    assert config["topology"]["notification"] == "http://lms-notification-headless:50055"
    container = named(documents, "Deployment", "lms-notification")["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["serve", "notification", "--config", "/etc/lms/lms.toml"]
    assert container["readinessProbe"]["grpc"]["service"] == "lms.notification.v1.NotificationService"
    env = container_env(container)
    assert env["LMS__NOTIFICATION__DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "lms-notification-database",
        "key": "url",
    }
    assert "LMS__NOTIFICATION__EMAIL__SMTP_PASSWORD" not in env, env  # no user, no password

    production = load_values("values-production.yaml")
    email = production["components"]["notification"]["email"]
    files, documents = render(production)
    _, config = lms_toml(files)
    assert config["notification"]["email"] == {
        "transport": "smtp",
        "from": email["from"],
        "smtp_host": email["smtpHost"],
        "smtp_port": email["smtpPort"],
        "smtp_tls": email["smtpTls"],
        "smtp_username": email["smtpUsername"],
    }, config["notification"]["email"]
    assert config["notification"]["portal_url"] == production["components"]["notification"]["portalUrl"]
    # The password is in no rendered file: only a reference to its Secret, in notification's
    # pods alone (not the migration job's, not another component's).
    assert "smtp_password" not in lms_toml(files)[0]
    for deployment in by_kind(documents, "Deployment"):
        env = container_env(deployment["spec"]["template"]["spec"]["containers"][0])
        password = env.get("LMS__NOTIFICATION__EMAIL__SMTP_PASSWORD")
        if component_of(deployment) != "notification":
            assert password is None, component_of(deployment)
            continue
        assert password == {
            "name": "LMS__NOTIFICATION__EMAIL__SMTP_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": email["existingSecret"], "key": email["smtpPasswordKey"]}},
        }, password
    for container in by_kind(documents, "Job")[0]["spec"]["template"]["spec"]["containers"]:
        assert "LMS__NOTIFICATION__EMAIL__SMTP_PASSWORD" not in container_env(container)

    files, _ = render(
        merged(
            {
                "components": {
                    "notification": {
                        "reminderScanSeconds": 0,
                        "dueSoonDays": [30, 3],
                        "escalationDays": 14,
                        "email": {"transport": "none"},
                    }
                }
            }
        )
    )
    notification = lms_toml(files)[1]["notification"]
    assert notification["reminder_scan_seconds"] == 0
    assert notification["due_soon_days"] == [30, 3]
    assert notification["escalation_days"] == 14
    files, _ = render(merged({"components": {"notification": {"escalationDays": 0}}}))
    assert lms_toml(files)[1]["notification"]["escalation_days"] == 0  # no escalation
    assert notification["email"]["transport"] == "none"
    # Without the relay or the sender, transport none (or folder) needs neither.
    render(merged({"components": {"notification": {"email": {"transport": "folder", "smtpHost": "", "from": ""}}}}))


# A relay with a private CA: its PEM in a Secret of its own (components.notification.email.caSecret).
SMTP_CA = {"components": {"notification": {"email": {"caSecret": "smtp-ca", "caSecretKey": "relay-ca.pem"}}}}


def test_notification_trusts_a_private_smtp_ca_from_its_secret():
    files, documents = render(merged(SMTP_CA))
    validate_strictly(documents)
    text, config = lms_toml(files)
    assert config["notification"]["email"]["smtp_ca_file"] == "/etc/lms/smtp-ca/ca.pem", config["notification"]
    # Only notification-service's email has the key.
    assert text.count("smtp_ca_file") == 1, text
    for deployment in by_kind(documents, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
        if component_of(deployment) != "notification":
            assert "smtp-ca" not in volumes and "smtp-ca" not in mounts, component_of(deployment)
            assert not any("smtp-ca" in m["mountPath"] for m in mounts.values()), mounts
            continue
        assert volumes["smtp-ca"] == {
            "name": "smtp-ca",
            "secret": {"secretName": "smtp-ca", "items": [{"key": "relay-ca.pem", "path": "ca.pem"}]},
        }, volumes["smtp-ca"]
        assert mounts["smtp-ca"] == {"name": "smtp-ca", "mountPath": "/etc/lms/smtp-ca", "readOnly": True}, mounts
        # The file smtp_ca_file names is the Secret's key, under the mount.
        (item,) = volumes["smtp-ca"]["secret"]["items"]
        assert f"{mounts['smtp-ca']['mountPath']}/{item['path']}" == config["notification"]["email"]["smtp_ca_file"]
    # The migration job sends no email: no CA.
    job = by_kind(documents, "Job")[0]["spec"]["template"]["spec"]
    assert "smtp-ca" not in {v["name"] for v in job["volumes"]}, job["volumes"]
    for container in job["containers"]:
        assert "smtp-ca" not in {m["name"] for m in container["volumeMounts"]}, container["name"]

    # The key defaults to ca.pem.
    _, documents = render(merged({"components": {"notification": {"email": {"caSecret": "smtp-ca"}}}}))
    pod = named(documents, "Deployment", "lms-notification")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["smtp-ca"]["secret"]["items"] == [{"key": "ca.pem", "path": "ca.pem"}], volumes["smtp-ca"]

    # Without caSecret (the default, and production's values): no volume, no smtp_ca_file (the
    # binary's default: the system's authorities only).
    for values in (None, load_values("values-production.yaml")):
        files, documents = render(values)
        text, config = lms_toml(files)
        assert "smtp_ca_file" not in text, text
        assert "smtp_ca_file" not in config["notification"]["email"]
        for deployment in by_kind(documents, "Deployment"):
            pod = deployment["spec"]["template"]["spec"]
            assert "smtp-ca" not in {v["name"] for v in pod["volumes"]}, component_of(deployment)
            assert "smtp-ca" not in {m["name"] for m in pod["containers"][0]["volumeMounts"]}


# The Learning Portal signing people in with the organisation's identity provider.
PORTAL = {"components": {"gateway": {"portal": {
    "publicUrl": "https://learn.example.com", "oidcIssuer": "https://id.example.com",
    "oidcClientId": "lms-portal", "oidcScopes": "openid profile lms", "oidcResource": "urn:lms",
    "existingSecret": "lms-portal", "clientSecretKey": "portal-client-secret"}}}}


def test_the_portal_signs_in_with_the_issuer_and_keeps_its_keys_in_the_gateway():
    files, documents = render(merged(PORTAL))
    validate_strictly(documents)
    _, config = lms_toml(files)
    web = config["web"]
    assert web["enabled"] is True and web["oidc_issuer"] == "https://id.example.com", web
    assert web["public_url"] == "https://learn.example.com" and web["oidc_resource"] == "urn:lms", web
    assert web["session_key_file"] == "/etc/lms/web/session-key", web
    assert web["oidc_client_secret_file"] == "/etc/lms/web/client-secret", web
    assert "dev_sign_in" not in web, web
    for deployment in by_kind(documents, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
        if component_of(deployment) != "gateway":
            assert "web" not in volumes and "web" not in mounts, component_of(deployment)
            continue
        assert volumes["web"]["secret"] == {"secretName": "lms-portal", "items": [
            {"key": "web-session-key", "path": "session-key"},
            {"key": "portal-client-secret", "path": "client-secret"}]}, volumes["web"]
        assert mounts["web"] == {"name": "web", "mountPath": "/etc/lms/web", "readOnly": True}
    # By default no issuer: the portal is off and nothing is mounted.
    _, config = lms_toml(render(merged({}))[0])
    assert config["web"]["enabled"] is False and "session_key_file" not in config["web"], config["web"]
    portal = PORTAL["components"]["gateway"]["portal"]
    expect_render_failure(merged({"components": {"gateway": {"portal": {**portal, "existingSecret": ""}}}}),
                          "portal.existingSecret is required")
    expect_render_failure(merged({"components": {"gateway": {"portal": {**portal, "oidcClientId": ""}}}}),
                          "oidcClientId is required")
    expect_render_failure(merged({"components": {"gateway": {"portal": {**portal, "sessionHours": 0}}}}),
                          "sessionHours")


def test_notification_values_are_checked():
    def notification(**settings):
        return merged({"components": {"notification": settings}})

    expect_render_failure(notification(email={"transport": "sendmail"}), "transport")
    expect_render_failure(notification(email={"smtpTls": "ssl"}), "smtpTls")
    expect_render_failure(notification(email={"smtpPort": 70000}), "smtpPort")
    expect_render_failure(notification(email={"smtpPort": "587"}), "smtpPort")
    # A password is never a plain value.
    expect_render_failure(notification(email={"smtpPassword": "hunter2"}), "smtpPassword")
    expect_render_failure(notification(email={"caSecret": "smtp-ca", "caSecretKey": ""}), "caSecretKey")
    expect_render_failure(notification(email={"caSecret": ["smtp-ca"]}), "caSecret")
    expect_render_failure(notification(portalUrl="lms.example.com"), "portalUrl")
    expect_render_failure(notification(dueSoonDays=[7, 0]), "dueSoonDays")
    expect_render_failure(notification(dueSoonDays=7), "dueSoonDays")
    expect_render_failure(notification(escalationDays=-1), "escalationDays")
    expect_render_failure(notification(reminderScanSeconds=-1), "reminderScanSeconds")
    expect_render_failure(merged({"components": {"records": {"dueSoonDays": [7]}}}), "dueSoonDays")
    expect_render_failure(notification(email={"smtpHost": ""}), "smtpHost and from are required")
    expect_render_failure(notification(email={"from": ""}), "smtpHost and from are required")
    expect_render_failure(
        notification(email={"smtpUsername": "lms"}), "components.notification.email.existingSecret is required"
    )
    # A disabled notification-service needs no relay.
    render(merged({"components": {"notification": {"enabled": False, "email": {"smtpHost": ""}}}}))


# [notification.webhooks] as the binary defaults it, and the chart too.
WEBHOOK_DEFAULTS = {"allow_http": False, "allowed_networks": [], "timeout_seconds": 10, "concurrency": 64}
# The webhook egress policy's default destinations: every IPv4 address but RFC 1918, loopback
# and link-local (where the cloud metadata services answer).
PUBLIC_IPV4 = {
    "ipBlock": {
        "cidr": "0.0.0.0/0",
        "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16"],
    }
}


def webhooks(**settings):
    return merged({"components": {"notification": {"webhooks": settings}}})


def test_webhook_settings_reach_notification_config():
    files, _ = render()
    assert lms_toml(files)[1]["notification"]["webhooks"] == WEBHOOK_DEFAULTS
    # The chart's defaults are the binary's ([notification.webhooks] of docs/configuration.md).
    values = load_values(os.path.join("..", "lms", "values.yaml"))["components"]["notification"]["webhooks"]
    assert {k: v for k, v in values.items() if k != "egress"} == {
        "allowHttp": False,
        "allowedNetworks": [],
        "timeoutSeconds": 10,
        "concurrency": 64,
    }, values
    files, _ = render(
        webhooks(allowHttp=True, allowedNetworks=["10.20.0.0/16", "127.0.0.1", "fd00::/8"], timeoutSeconds=30, concurrency=8)
    )
    text, config = lms_toml(files)
    assert config["notification"]["webhooks"] == {
        "allow_http": True,
        "allowed_networks": ["10.20.0.0/16", "127.0.0.1", "fd00::/8"],
        "timeout_seconds": 30,
        "concurrency": 8,
    }, config["notification"]["webhooks"]
    # Its own table, after the email one, like [notification.email].
    assert text.index("[notification.email]") < text.index("[notification.webhooks]") < text.index("[pathway]"), text
    # Only notification-service has webhooks.
    assert all("webhooks" not in table for name, table in config.items() if name != "notification")


def no_webhook_policy(documents):
    return not [d for d in by_kind(documents, "NetworkPolicy") if d["metadata"]["name"] == "lms-notification-webhooks"]


def test_webhook_values_are_checked():
    expect_render_failure(webhooks(concurrency=0), "/components/notification/webhooks/concurrency")
    expect_render_failure(webhooks(concurrency=-1), "/components/notification/webhooks/concurrency")
    expect_render_failure(webhooks(concurrency="64"), "/components/notification/webhooks/concurrency")
    expect_render_failure(webhooks(timeoutSeconds=0), "/components/notification/webhooks/timeoutSeconds")
    expect_render_failure(webhooks(timeoutSeconds=2.5), "/components/notification/webhooks/timeoutSeconds")
    expect_render_failure(webhooks(allowHttp="yes"), "/components/notification/webhooks/allowHttp")
    expect_render_failure(webhooks(allowedNetworks="10.0.0.0/8"), "/components/notification/webhooks/allowedNetworks")
    expect_render_failure(webhooks(allowedNetworks=[10]), "/components/notification/webhooks/allowedNetworks/0")
    expect_render_failure(webhooks(allowedNetworks=["intranet"]), "/components/notification/webhooks/allowedNetworks/0")
    expect_render_failure(webhooks(allowedNetworks=["10.0.0.0/8 "]), "/components/notification/webhooks/allowedNetworks/0")
    # The service's keys, not the chart's: snake_case is refused, as is any unknown key.
    expect_render_failure(webhooks(timeout_seconds=5), "timeout_seconds")
    expect_render_failure(webhooks(secret="s3cret"), "secret")
    expect_render_failure(webhooks(egress={"enabled": "yes"}), "/components/notification/webhooks/egress/enabled")
    expect_render_failure(webhooks(egress={"ports": []}), "/components/notification/webhooks/egress/ports")
    expect_render_failure(webhooks(egress={"ports": [0]}), "/components/notification/webhooks/egress/ports/0")
    expect_render_failure(webhooks(egress={"ports": [70000]}), "/components/notification/webhooks/egress/ports/0")
    expect_render_failure(webhooks(egress={"ports": "443"}), "/components/notification/webhooks/egress/ports")
    # No destinations would be every destination: refused (enabled: false turns the policy off).
    expect_render_failure(webhooks(egress={"to": []}), "/components/notification/webhooks/egress/to")
    expect_render_failure(webhooks(egress={"to": "0.0.0.0/0"}), "/components/notification/webhooks/egress/to")
    expect_render_failure(webhooks(egress={"cidrs": ["0.0.0.0/0"]}), "cidrs")
    expect_render_failure(merged({"components": {"records": {"webhooks": {"concurrency": 8}}}}), "webhooks")


def test_webhook_egress_policy_follows_its_knobs():
    """Off by default: the chart leaves egress open, and a policy selecting notification's pods
    for egress would deny them their database, DNS and relay. On, it lets them reach TCP 443 on
    public IPv4 addresses only (RFC 1918, loopback and link-local excepted), and
    webhooks.allowedNetworks; the ports and peers follow the values."""
    for values in (None, load_values("values-production.yaml")):
        _, documents = render(values)
        assert no_webhook_policy(documents)
        assert named(documents, "NetworkPolicy", "lms-notification")["spec"]["policyTypes"] == ["Ingress"]

    _, documents = render(webhooks(egress={"enabled": True}))
    validate_strictly(documents)
    policy = named(documents, "NetworkPolicy", "lms-notification-webhooks")
    assert component_of(policy) == "notification"
    labels = {
        component_of(d): d["spec"]["template"]["metadata"]["labels"] for d in by_kind(documents, "Deployment")
    }
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert [c for c, pod in labels.items() if all(pod.get(k) == v for k, v in selector.items())] == ["notification"]
    assert policy["spec"]["policyTypes"] == ["Egress"], policy["spec"]
    assert "ingress" not in policy["spec"], policy["spec"]
    assert policy["spec"]["egress"] == [{"to": [PUBLIC_IPV4], "ports": [{"port": 443, "protocol": "TCP"}]}], policy["spec"]
    # notification's own ingress policy is unchanged; no other component gets one.
    assert named(documents, "NetworkPolicy", "lms-notification")["spec"]["policyTypes"] == ["Ingress"]
    assert all(
        p["spec"]["policyTypes"] == ["Ingress"] for p in by_kind(documents, "NetworkPolicy") if p is not policy
    )

    # Other ports, other peers (IPv6 too), and the allowed private networks: as CIDR blocks.
    public_ipv6 = {"ipBlock": {"cidr": "::/0", "except": ["fc00::/7", "fe80::/10", "::1/128"]}}
    receivers = {"ipBlock": {"cidr": "203.0.113.0/24"}}
    _, documents = render(
        webhooks(
            allowedNetworks=["10.20.0.0/16", "192.168.1.7", "fd00::1"],
            egress={"enabled": True, "ports": [443, 8443], "to": [receivers, public_ipv6]},
        )
    )
    validate_strictly(documents)
    (rule,) = named(documents, "NetworkPolicy", "lms-notification-webhooks")["spec"]["egress"]
    assert rule["ports"] == [{"port": 443, "protocol": "TCP"}, {"port": 8443, "protocol": "TCP"}], rule
    assert rule["to"] == [
        receivers,
        public_ipv6,
        {"ipBlock": {"cidr": "10.20.0.0/16"}},
        {"ipBlock": {"cidr": "192.168.1.7/32"}},
        {"ipBlock": {"cidr": "fd00::1/128"}},
    ], rule["to"]

    # Off: no webhook egress policy at all; nor without NetworkPolicies.
    _, documents = render(webhooks(egress={"enabled": False, "ports": [8443]}))
    assert no_webhook_policy(documents)
    on = {"webhooks": {"egress": {"enabled": True}}}
    _, documents = render(merged({"networkPolicy": {"enabled": False}, "components": {"notification": on}}))
    assert not by_kind(documents, "NetworkPolicy")
    # Nor for a disabled notification-service.
    _, documents = render(merged({"components": {"notification": {"enabled": False, **on}}}))
    assert no_webhook_policy(documents) and by_kind(documents, "NetworkPolicy")


def test_network_policy_admits_the_gateway_and_the_event_producers_to_notification():
    """The gateway calls notification-service (the portal inbox) and enrolment-, assessment-
    and records-service deliver their events to it: all four reach its gRPC port, as the suite's
    own pods; pods of another release do not. Its egress stays open (the SMTP relay)."""
    for values in (None, load_values("values-production.yaml")):
        _, documents = render(values)
        policy = named(documents, "NetworkPolicy", "lms-notification")
        deployments = {component_of(d): d for d in by_kind(documents, "Deployment")}
        notification = deployments["notification"]["spec"]["template"]["metadata"]["labels"]
        assert all(notification.get(k) == v for k, v in policy["spec"]["podSelector"]["matchLabels"].items())
        assert policy["spec"]["policyTypes"] == ["Ingress"], policy["spec"]
        grpc = [r for r in policy["spec"]["ingress"] if r["ports"] == [{"port": "grpc", "protocol": "TCP"}]]
        assert len(grpc) == 1, policy["spec"]["ingress"]
        peers = grpc[0]["from"]
        # Pods of this namespace only (no namespaceSelector), chosen by label.
        assert all(set(peer) == {"podSelector"} for peer in peers), peers

        def admitted(labels):
            return any(
                all(labels.get(k) == v for k, v in peer["podSelector"]["matchLabels"].items()) for peer in peers
            )

        for caller in ("gateway", "enrolment", "assessment", "records"):
            labels = deployments[caller]["spec"]["template"]["metadata"]["labels"]
            assert admitted(labels), caller
        assert not admitted({**notification, "app.kubernetes.io/instance": "other"})
        service = named(documents, "Service", "lms-notification-headless")
        assert service["spec"]["ports"][0]["targetPort"] == "grpc"


OPERATIONS = os.path.join(HERE, "..", "..", "docs", "operations.md")
NUMBERS = "no one two three four five six seven eight nine ten eleven twelve thirteen fourteen".split()


def operations_text():
    with open(OPERATIONS) as f:
        return f.read()


def walkthrough_values():
    """The values file of docs/operations.md's walk-through, exactly as printed there."""
    match = re.search(
        r"<!-- walkthrough-values[^>]*-->\n```yaml\n(.*?)```\n<!-- /walkthrough-values -->",
        operations_text(),
        re.S,
    )
    assert match, "docs/operations.md lost its walk-through values"
    return yaml.safe_load(match.group(1))


def test_the_operations_walkthrough_values_install_what_it_says():
    files, documents = render(walkthrough_values())
    validate_strictly(documents)
    kinds = {d["kind"] for d in documents}
    assert {"Job", "Ingress", "ServiceMonitor", "PrometheusRule"} <= kinds, kinds
    assert [d for d in by_kind(documents, "ConfigMap") if d["metadata"]["name"] == "lms-dashboard"]
    _, config = lms_toml(files)
    assert config["auth"]["issuer"] == "https://id.example.com" and config["auth"]["audience"] == "lms"
    job = by_kind(documents, "Job")[0]["spec"]["template"]["spec"]
    for container in job["containers"]:
        name = container["name"].removeprefix("migrate-")
        ref = container_env(container)[f"LMS__{name.upper()}__DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": f"lms-{name}-database-owner", "key": "url"}, ref
        assert "postgres-ca" in {m["name"] for m in container["volumeMounts"]}
    for deployment in by_kind(documents, "Deployment"):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = container_env(container)
        name = component_of(deployment)
        if name in GRPC_SERVICES:
            ref = env[f"LMS__{name.upper()}__DATABASE_URL"]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": f"lms-{name}-database", "key": "url"}, ref
            assert env["LMS__AUTH__CLIENT_CREDENTIALS__CLIENT_ID"]["value"] == f"lms-{name}"
        assert env["LMS__MIGRATE_ON_START"]["value"] == "false"
        assert "postgres-ca" in {m["name"] for m in container["volumeMounts"]}


def test_the_operations_figures_are_the_charts():
    text = " ".join(operations_text().split())
    values = load_values(os.path.join("..", "lms", "values.yaml"))
    components = values["components"]
    sleep = values["preStopSleepSeconds"]
    grace = values["config"]["shutdownGraceSeconds"]
    _, documents = render()
    pod = named(documents, "Deployment", "lms-pathway")["spec"]["template"]["spec"]
    job = by_kind(documents, "Job")[0]["spec"]
    ports = ", ".join(f"{name} {components[name]['grpcPort']}" for name in GRPC_SERVICES)
    replicas = {c["replicas"] for c in components.values()}
    scaling = {(c["autoscaling"]["minReplicas"], c["autoscaling"]["maxReplicas"], c["autoscaling"]["targetCPUUtilizationPercentage"]) for c in components.values()}
    assert len(replicas) == 1 and len(scaling) == 1, (replicas, scaling)
    (low, high, cpu), = scaling
    (each,) = replicas
    figures = [
        f"on its default port ({ports}, the gateway's HTTP {components['gateway']['httpPort']}, metrics {values['metrics']['port']};",
        f"sleeps {sleep} s in its preStop hook",
        f"for up to `config.shutdownGraceSeconds` ({grace} s)",
        f"within `terminationGracePeriodSeconds` ({pod['terminationGracePeriodSeconds']} s: the sleep, the grace and 10 s to spare)",
        f"at most {job['backoffLimit']} retries (`migrations.job.backoffLimit`) within {job['activeDeadlineSeconds']} s",
        f"`components.<name>.replicas` ({replicas.pop()} by default)",
        f"({low} to {high} replicas at {cpu}% by default)",
        f"`config.clientResolveIntervalSeconds` ({values['config']['clientResolveIntervalSeconds']} s)",
        f"3 × `components.records.certificationScanSeconds`, {components['records']['certificationScanSeconds']} s",
        f"`up{{job=\"lms\"}}` lists {NUMBERS[sum(c['replicas'] for c in components.values())]} targets",
        f"({NUMBERS[each]} replicas of each of the {NUMBERS[len(components)]} components)",
        f"port {values['metrics']['port']} (`metrics.port`)",
        f"(`maxUnavailable: {components['pathway']['pdb']['maxUnavailable']}`)",
    ]
    hooks = components["notification"]["webhooks"]
    for key, toml in (("allowHttp", "allow_http"), ("allowedNetworks", "allowed_networks"), ("timeoutSeconds", "timeout_seconds"), ("concurrency", "concurrency")):
        figures.append(f"| `{key}` | `{toml}` | `{json.dumps(hooks[key])}` |")
    (public,) = hooks["egress"]["to"]
    figures.append(f"`egress.ports` (default `{json.dumps(hooks['egress']['ports'])}`)")
    figures.append(
        f"default `{public['ipBlock']['cidr']}` except "
        + ", ".join(f"`{c}`" for c in public["ipBlock"]["except"][:-1])
        + f" and `{public['ipBlock']['except'][-1]}`"
    )
    for figure in figures:
        assert figure in text, f"docs/operations.md should say: {figure}"
    assert pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"] == sleep
    assert pod["terminationGracePeriodSeconds"] == sleep + grace + 10


def literal_env(container):
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def test_the_binary_accepts_the_rendered_config(lms_binary):
    """The real binary reads each rendered lms.toml with the very environment each Deployment
    and each migration container sets (LMS__MIGRATE_ON_START included) and migrates SQLite
    databases with it: the binary denies unknown keys, so every rendered key and variable name
    is one it knows."""
    if lms_binary is None:
        raise SkipTest("no lms binary given")
    jwks = os.path.join(HERE, "..", "..", "platform", "tests", "fixtures", "jwks.json")
    for values in (
        None,
        load_values("values-production.yaml"),
        merged({"auth": {"serviceIdentity": "kubernetes"}}),
        merged(
            {
                "auth": {
                    "serviceIdentity": "clientCredentials",
                    "clientCredentials": {"tokenUrl": "https://id.example.com/token"},
                }
            }
        ),
        merged(DEV),
        merged({**CA_BUNDLE, "migrations": {"job": {"enabled": False}}}),
        walkthrough_values(),
        webhooks(allowHttp=True, allowedNetworks=["10.20.0.0/16"], timeoutSeconds=30, concurrency=8),
        merged(SMTP_CA),
        merged(PORTAL),
    ):
        files, documents = render(values)
        text, _ = lms_toml(files)
        jobs = by_kind(documents, "Job")
        runs = []
        for deployment in by_kind(documents, "Deployment"):
            container = deployment["spec"]["template"]["spec"]["containers"][0]
            component = component_of(deployment)
            args = ["migrate"] + ([component] if component in GRPC_SERVICES else [])
            runs.append((args, literal_env(container)))
        for job in jobs:
            for container in job["spec"]["template"]["spec"]["containers"]:
                runs.append((container["args"][:2], literal_env(container)))
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "lms.toml")
            with open(path, "w") as f:
                f.write(text.replace("/etc/lms/jwks/jwks.json", jwks))
            for args, rendered_env in runs:
                env = {k: v for k, v in os.environ.items() if not k.startswith("LMS__")}
                env.update(rendered_env)
                env["LMS__DATA_DIR"] = directory
                for component in GRPC_SERVICES:
                    env[f"LMS__{component.upper()}__DATABASE_URL"] = f"sqlite://{directory}/{component}.db"
                result = subprocess.run(
                    [lms_binary, *args, "--config", path],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                assert result.returncode == 0, (args, sorted(rendered_env), result.stderr)


def main():
    import test_dockerfile
    import test_monitoring
    import test_roles

    # Absolute: some tests run the binary from a temporary working directory.
    lms_binary = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None
    tests = [
        (name, f)
        for module in (globals(), vars(test_dockerfile), vars(test_monitoring), vars(test_roles))
        for name, f in sorted(module.items())
        if name.startswith("test_") and callable(f)
    ]
    passed = failed = skipped = 0
    for name, test in tests:
        try:
            if test.__code__.co_argcount:
                test(lms_binary)
            else:
                test()
            print(f"test chart::{name} ... ok")
            passed += 1
        except SkipTest as why:
            print(f"test chart::{name} ... skipped ({why})")
            skipped += 1
        except Exception:
            print(f"test chart::{name} ... FAILED")
            traceback.print_exc()
            failed += 1
    print(f"chart: {passed} passed, {failed} failed, {skipped} skipped")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
