"""What Temporal's worker controller accepts, written from its CRDs and admission webhook at a
pinned release, as JSON Schemas and checks the chart's rendered objects must pass.

Source: github.com/temporalio/temporal-worker-controller, tag v1.8.1 (commit
251c07d8aa6b292f8884af7f2ee59a4cd72639a5; its CRD chart is 0.27.1, commit 4fd32c8, with the same
CRDs): helm/temporal-worker-controller-crds/templates/temporal.io_{workerdeployments,
connections,workerresourcetemplates}.yaml (openAPIV3Schema and x-kubernetes-validations, from
api/v1alpha1/*_types.go) and api/v1alpha1/workerresourcetemplate_webhook.go. These schemas are
the subset of fields rtw renders, each with the CRD's type, pattern, enum and bounds; the CEL
rules are the functions below. The kind CI job also validates against the CRD files themselves
(RTW_WORKER_CONTROLLER_CRDS, see test_controller_chart.py).
"""

from __future__ import annotations

import re
from typing import Any

CONTROLLER_VERSION = "v1.8.1"
CONTROLLER_COMMIT = "251c07d8aa6b292f8884af7f2ee59a4cd72639a5"
CONTROLLER_CHART_VERSION = "0.27.1"
API_VERSION = "temporal.io/v1alpha1"

_DNS_LABEL = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_KEY_SELECTOR = {
    "type": "object",
    "required": ["key"],
    "properties": {
        "key": {"type": "string"},
        "name": {"type": "string"},
        "optional": {"type": "boolean"},
    },
    "additionalProperties": False,
}


def _object(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": API_VERSION},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
        },
    }


WORKER_DEPLOYMENT = _object(
    {
        "type": "object",
        "required": ["rollout", "sunset", "template", "workerOptions"],
        "additionalProperties": False,
        "properties": {
            "replicas": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
            "minReadySeconds": {"type": "integer"},
            "progressDeadlineSeconds": {"type": "integer"},
            "template": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"metadata": {"type": "object"}, "spec": {"type": "object"}},
            },
            "rollout": {
                "type": "object",
                "required": ["strategy"],
                "additionalProperties": False,
                "properties": {
                    "strategy": {"enum": ["Manual", "AllAtOnce", "Progressive"]},
                    "gate": {
                        "type": "object",
                        "required": ["workflowType"],
                        "additionalProperties": False,
                        "properties": {
                            "workflowType": {"type": "string"},
                            "input": {},
                            "inputFrom": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "configMapKeyRef": _KEY_SELECTOR,
                                    "secretKeyRef": _KEY_SELECTOR,
                                },
                            },
                        },
                    },
                    "steps": {
                        "type": "array",
                        "maxItems": 20,
                        "items": {
                            "type": "object",
                            "required": ["pauseDuration", "rampPercentage"],
                            "additionalProperties": False,
                            "properties": {
                                "pauseDuration": {"type": "string"},
                                "rampPercentage": {"type": "integer", "minimum": 1, "maximum": 99},
                            },
                        },
                    },
                },
            },
            "sunset": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "scaledownDelay": {"type": "string"},
                    "deleteDelay": {"type": "string"},
                },
            },
            "workerOptions": {
                "type": "object",
                "required": ["connectionRef", "temporalNamespace"],
                "additionalProperties": False,
                "properties": {
                    "connectionRef": {
                        "type": "object",
                        "required": ["name"],
                        "additionalProperties": False,
                        "properties": {"name": {"type": "string", "pattern": _DNS_LABEL}},
                    },
                    "temporalNamespace": {"type": "string", "minLength": 1},
                    "unsafeCustomBuildID": {
                        "type": "string",
                        "maxLength": 63,
                        "pattern": "^[a-zA-Z0-9]([a-zA-Z0-9._-]*[a-zA-Z0-9])?$",
                    },
                },
            },
        },
    }
)

CONNECTION = _object(
    {
        "type": "object",
        "required": ["hostPort"],
        "additionalProperties": False,
        "properties": {
            "hostPort": {"type": "string", "pattern": "^[a-zA-Z0-9.-]+:[0-9]+$"},
            "tls": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"serverName": {"type": "string", "pattern": "^[a-zA-Z0-9.-]+$"}},
            },
            "mutualTLSSecretRef": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {"name": {"type": "string", "pattern": _DNS_LABEL}},
            },
            "apiKeySecretRef": _KEY_SELECTOR,
        },
    }
)

WORKER_RESOURCE_TEMPLATE = _object(
    {
        "type": "object",
        "required": ["template"],
        "additionalProperties": False,
        "properties": {
            "workerDeploymentRef": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {"name": {"type": "string", "pattern": _DNS_LABEL}},
            },
            "template": {"type": "object"},
        },
    }
)

SCHEMAS = {
    "WorkerDeployment": WORKER_DEPLOYMENT,
    "Connection": CONNECTION,
    "WorkerResourceTemplate": WORKER_RESOURCE_TEMPLATE,
}

#: Kinds the controller's chart lets a WorkerResourceTemplate hold by default (values.yaml
#: workerResourceTemplate.allowedResources); PodDisruptionBudget and ScaledObject must be added
#: when the controller is installed (the chart README and the kind job do).
DEFAULT_ALLOWED_KINDS = {"HorizontalPodAutoscaler"}

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(h|m|s|ms))+$")


def duration_seconds(text: str) -> float:
    """A Go duration as the CEL `duration()` reads it (the units rtw uses)."""
    if not _DURATION.match(text):
        raise ValueError(f"not a duration: {text!r}")
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(h|m|s|ms)", text))


def cel_problems(obj: dict[str, Any]) -> list[str]:
    """The CRDs' x-kubernetes-validations rules and the WorkerResourceTemplate webhook's
    checks, for one rendered object."""
    kind, spec, name = obj["kind"], obj["spec"], obj["metadata"]["name"]
    problems = []
    if kind == "WorkerDeployment":
        if len(name) > 63:
            problems.append("name cannot be more than 63 characters")
        rollout = spec["rollout"]
        if rollout["strategy"] == "Progressive" and not rollout.get("steps"):
            problems.append("steps are required for Progressive rollout")
        for step in rollout.get("steps", []):
            if duration_seconds(step["pauseDuration"]) < 30:
                problems.append("pause duration must be at least 30s")
        for delay in spec["sunset"].values():
            duration_seconds(delay)
        gate_from = rollout.get("gate", {}).get("inputFrom")
        if gate_from is not None and len(gate_from) != 1:
            problems.append("exactly one of configMapKeyRef or secretKeyRef must be set")
    elif kind == "Connection":
        if "mutualTLSSecretRef" in spec and "apiKeySecretRef" in spec:
            problems.append("Only one of mutualTLSSecretRef or apiKeySecretRef may be set")
    elif kind == "WorkerResourceTemplate":
        problems += _webhook_problems(spec["template"])
    return problems


def _webhook_problems(template: dict[str, Any]) -> list[str]:
    """workerresourcetemplate_webhook.go validateWorkerResourceTemplateSpec."""
    problems = []
    if not template.get("apiVersion") or not template.get("kind"):
        problems.append("apiVersion and kind must be specified")
    if "metadata" in template and {"name", "namespace"} & set(template["metadata"]):
        problems.append("metadata.name and metadata.namespace are generated by the controller")
    inner = template.get("spec", {})
    if inner.get("minReplicas") == 0:
        problems.append("minReplicas must not be 0")
    if inner.get("scaleTargetRef") not in (None, {}):
        problems.append("scaleTargetRef is the controller's: set it to {}")
    selector = inner.get("selector")
    if isinstance(selector, dict) and selector.get("matchLabels") not in (None, {}):
        problems.append("selector.matchLabels is the controller's: set it to {}")
    for trigger in inner.get("triggers", []):
        if trigger.get("type") != "temporal":
            continue
        for key in ("workerDeploymentName", "workerDeploymentBuildId", "namespace"):
            if trigger.get("metadata", {}).get(key, "") != "":
                problems.append(f"triggers[].metadata.{key} is the controller's: set it to ''")
    return problems
