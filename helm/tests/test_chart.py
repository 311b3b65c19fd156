"""Chart tests: a real Helm engine (helm-python-sdk, Helm v4's library) renders and lints
helm/lms; every rendered manifest is validated against the Kubernetes API schemas in strict mode
(kubernetes-validate); values.schema.json and validate.yaml refuse bad values; the rendered
lms.toml is accepted by the real `lms` binary.

Run: python3 helm/tests/test_chart.py [path/to/lms-binary]
Prints 'chart: N passed, M failed' and exits non-zero on any failure.
"""

import copy
import os
import subprocess
import sys
import tempfile
import tomllib
import traceback

import helm_python
import kubernetes_validate
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
CHART = os.path.join(HERE, "..", "lms")
KUBERNETES_VERSION = "1.30.0"
# Kinds from CRDs that the core API schemas do not describe.
CRD_KINDS = {"ServiceMonitor"}
# The gRPC services (one database each); the gateway is the HTTP edge in front of them.
GRPC_SERVICES = {"pathway": 50051, "enrolment": 50052, "assessment": 50053, "records": 50054}
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


def render(values=None):
    chart = helm_python.Chart.load(CHART)
    try:
        files = chart.render(values, name="lms", namespace="learning")
    finally:
        chart.close()
    documents = []
    for path, text in files.items():
        if not path.endswith(".yaml"):
            continue
        for doc in yaml.safe_load_all(text):
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


def merged(overrides):
    values = copy.deepcopy(load_values(os.path.join("..", "lms", "values.yaml")))

    def merge(into, changes):
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value

    merge(values, overrides)
    return values


# --- tests ------------------------------------------------------------------------------------


def test_lint_is_clean_with_default_and_production_values():
    for values in (None, load_values("values-production.yaml")):
        result = helm_python.lint(CHART, values, strict=True, namespace="learning")
        assert not result["errors"], result
        bad = [m for m in result["messages"] if m["severity"] > 1]
        assert not bad, bad


def test_default_render_validates_strictly():
    _, documents = render()
    validate_strictly(documents)
    kinds = sorted({d["kind"] for d in documents})
    # "Pod" is the `helm test` hook.
    assert kinds == [
        "ConfigMap",
        "Deployment",
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
        assert all("value" not in e for e in env if "SECRET" in e["name"] or "DATABASE" in e["name"])


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


def test_the_gateway_finds_the_four_services():
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
    http, metrics = policy["spec"]["ingress"]
    assert http["ports"] == [{"port": "http", "protocol": "TCP"}], http
    # The listed peers, plus the suite's own pods (`helm test`).
    assert http["from"][1:] == production["networkPolicy"]["gatewayFrom"], http
    assert http["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "lms"
    assert metrics["ports"] == [{"port": "metrics", "protocol": "TCP"}], metrics
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


def test_the_binary_accepts_the_rendered_config(lms_binary):
    if lms_binary is None:
        raise SkipTest("no lms binary given")
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
    ):
        files, _ = render(values)
        config_map = yaml.safe_load(files["lms/templates/configmap.yaml"])
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "lms.toml")
            with open(path, "w") as f:
                f.write(config_map["data"]["lms.toml"])
            jwks = os.path.join(HERE, "..", "..", "platform", "tests", "fixtures", "jwks.json")
            text = open(path).read().replace("/etc/lms/jwks/jwks.json", jwks)
            open(path, "w").write(text)
            env = {k: v for k, v in os.environ.items() if not k.startswith("LMS__")}
            env["LMS__DATA_DIR"] = directory
            for component in ("pathway", "enrolment", "assessment", "records"):
                env[f"LMS__{component.upper()}__DATABASE_URL"] = f"sqlite://{directory}/{component}.db"
            result = subprocess.run(
                [lms_binary, "migrate", "--config", path],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode == 0, result.stderr


class SkipTest(Exception):
    pass


def main():
    lms_binary = sys.argv[1] if len(sys.argv) > 1 else None
    tests = [(name, f) for name, f in sorted(globals().items()) if name.startswith("test_")]
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
