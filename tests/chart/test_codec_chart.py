"""The chart's payload encryption: keys mounted from a Secret, the codec server component."""

from __future__ import annotations

import pytest

from ._helm import CHART, QUEUES, Manifest, by_kind, env_of, helm_binary, load, render, template

pytestmark = pytest.mark.chart

CODEC_VALUES = CHART / "ci" / "codec-values.yaml"


@pytest.fixture(scope="module")
def helm() -> str:
    return helm_binary()


@pytest.fixture(scope="module")
def codec(helm: str) -> list[Manifest]:
    return load(render(helm, [CODEC_VALUES]))


def test_off_by_default(helm: str) -> None:
    objs = load(render(helm))
    assert "codec-server" not in by_kind(objs, "Deployment")
    for queue in QUEUES:
        assert "RTW_CODEC_KEYS_FILE" not in env_of(objs, queue)


def test_every_worker_and_the_test_job_read_the_keys_from_the_secret(
    codec: list[Manifest],
) -> None:
    pods = {
        **{k: v for k, v in by_kind(codec, "Deployment").items() if k in QUEUES},
        **{o["metadata"]["name"]: o for o in codec if o["kind"] == "Pod"},
    }
    pods |= {o["metadata"]["name"]: o for o in codec if o["kind"] == "Job"}
    assert set(QUEUES) <= set(pods)
    for name, obj in pods.items():
        spec = obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["codec-keys"]["secret"]["secretName"] == "rtw-codec-keys", name
        mounts = {m["name"]: m for m in spec["containers"][0]["volumeMounts"]}
        assert mounts["codec-keys"] == {
            "name": "codec-keys",
            "mountPath": "/etc/rtw/codec",
            "readOnly": True,
        }, name
    for queue in QUEUES:
        assert env_of(codec, queue)["RTW_CODEC_KEYS_FILE"] == "/etc/rtw/codec/keys.json"


def test_the_codec_server_is_its_own_component(codec: list[Manifest]) -> None:
    deployment = by_kind(codec, "Deployment")["codec-server"]
    service = by_kind(codec, "Service")["codec-server"]
    policy = by_kind(codec, "NetworkPolicy")["codec-server"]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["args"] == ["codec-server"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["RTW_CODEC_SERVER_CORS_ORIGINS"] == "https://temporal-ui.example.com"
    assert env["RTW_CODEC_SERVER_TOKEN_FILE"] == "/etc/rtw/codec-tokens/tokens"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["codec-tokens"]["secret"]["secretName"] == "rtw-codec-tokens"
    assert service["spec"]["ports"] == [
        {"name": "codec", "port": 8888, "targetPort": "codec", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert policy["spec"]["podSelector"]["matchLabels"] == service["spec"]["selector"]
    [ingress] = policy["spec"]["ingress"]
    assert ingress["ports"] == [{"port": 8888, "protocol": "TCP"}]
    assert ingress["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "temporal"
    }
    # PSS restricted, like every pod of the chart
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_secrets_are_referenced_never_inlined(codec: list[Manifest]) -> None:
    assert not [o for o in codec if o["kind"] == "Secret"]


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["codecServer.enabled=true"], "codec.existingSecret is empty"),
        (
            ["codecServer.enabled=true", "codec.existingSecret=keys"],
            "nor codecServer.oidc.jwksUrl is set",
        ),
        (["workerDefaults.env.RTW_CODEC_KEYS_FILE=/x"], "codec.existingSecret"),
        (["codecServer.corsOrigins={temporal-ui.example.com}"], "corsOrigins"),
    ],
)
def test_incomplete_codec_values_fail_with_what_to_set(
    helm: str, sets: list[str], message: str
) -> None:
    result = template(helm, sets=sets)
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize(
    "inline",
    [
        "temporal.apiKey.value=rtw-apikey-SENTINEL",
        "temporal.tls.clientKey=SENTINEL",
        "codec.keys=SENTINEL",
        "codecServer.tokens.value=SENTINEL",
        "database.url=postgresql://u:SENTINEL@db/rtw",
    ],
)
def test_a_secret_cannot_be_inlined_into_values(helm: str, inline: str) -> None:
    """Secrets are referenced (existingSecret), never inlined: the schema has no place for
    them, so `helm template` refuses rather than rendering one into a manifest."""
    result = template(helm, sets=[inline])
    assert result.returncode != 0
    assert "SENTINEL" not in result.stdout
    assert "additional properties" in result.stderr.lower() or "not allowed" in result.stderr


def test_the_web_uis_identity_provider_can_vouch_for_people(codec: list[Manifest]) -> None:
    deployment = by_kind(codec, "Deployment")["codec-server"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["RTW_CODEC_SERVER_JWKS_URL"] == "https://login.example.com/.well-known/jwks.json"
    assert env["RTW_CODEC_SERVER_JWT_AUDIENCE"] == "temporal-ui"
    assert env["RTW_CODEC_SERVER_JWT_ISSUER"] == "https://login.example.com/"
    egress = by_kind(codec, "NetworkPolicy")["codec-server"]["spec"]["egress"]
    assert {"port": 443, "protocol": "TCP"} in [p for rule in egress for p in rule["ports"]]


def test_oidc_alone_needs_no_token_secret(helm: str) -> None:
    objs = load(
        render(
            helm,
            sets=[
                "codec.existingSecret=keys",
                "codecServer.enabled=true",
                "codecServer.oidc.jwksUrl=https://idp.example/jwks.json",
                "codecServer.oidc.audience=temporal-ui",
            ],
        )
    )
    pod = by_kind(objs, "Deployment")["codec-server"]["spec"]["template"]["spec"]
    assert "codec-tokens" not in {v["name"] for v in pod["volumes"]}
    env = {e["name"] for e in pod["containers"][0]["env"]}
    assert "RTW_CODEC_SERVER_TOKEN_FILE" not in env
    result = template(
        helm,
        sets=[
            "codec.existingSecret=keys",
            "codecServer.enabled=true",
            "codecServer.oidc.jwksUrl=https://idp.example/jwks.json",
        ],
    )
    assert result.returncode != 0
    assert "codecServer.oidc.audience is empty" in result.stderr
