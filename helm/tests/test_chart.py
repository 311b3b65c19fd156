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
import traceback

import helm_python
import kubernetes_validate
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
CHART = os.path.join(HERE, "..", "lms")
KUBERNETES_VERSION = "1.30.0"
# Kinds from CRDs that the core API schemas do not describe.
CRD_KINDS = {"ServiceMonitor"}


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


def test_production_render_validates_strictly():
    _, documents = render(load_values("values-production.yaml"))
    validate_strictly(documents)
    assert by_kind(documents, "HorizontalPodAutoscaler"), "autoscaling is on in production"
    assert by_kind(documents, "ServiceMonitor"), "a ServiceMonitor is asked for"


def test_every_component_has_deployment_service_probes_and_policies():
    _, documents = render(load_values("values-production.yaml"))
    for deployment in by_kind(documents, "Deployment"):
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        name = deployment["metadata"]["name"]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["args"][:2] == ["serve", component]
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
        assert database and "secretKeyRef" in database[0]["valueFrom"], env
        assert all("value" not in e for e in env if "SECRET" in e["name"] or "DATABASE" in e["name"])


def test_network_policy_admits_only_the_suite_to_grpc():
    _, documents = render()
    for policy in by_kind(documents, "NetworkPolicy"):
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
    config = yaml.safe_load(files["lms/templates/configmap.yaml"])["data"]["lms.toml"]
    assert 'pathway_url = "http://lms-pathway:50051"' in config, config
    assert 'enrolment_url = "http://lms-enrolment:50052"' in config, config
    # Outboxes: enrolment and assessment events to records, records' to enrolment.
    assert config.count('events_url = "http://lms-records:50054"') == 2, config
    assert 'events_url = "http://lms-enrolment:50052"' in config, config
    assert 'service_token_file = "/etc/lms/service-token/token"' in config, config
    services = {s["metadata"]["name"] for s in by_kind(documents, "Service")}
    assert "lms-pathway" in services, services
    for deployment in by_kind(documents, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["service-token"]["secret"]["items"] == [
            {"key": "service-token", "path": "token"}
        ]


def test_the_binary_accepts_the_rendered_config(lms_binary):
    if lms_binary is None:
        raise SkipTest("no lms binary given")
    for values in (None, load_values("values-production.yaml")):
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
