"""Replays the shell steps of a README against the chart: every namespace, Secret, file and value
a step relies on must come from an earlier step, and every `helm install/upgrade` is rendered
with exactly its flags and files (`helm template`). Commands it does not model are skipped."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._helm import CHART, REPO, Manifest, load, run_helm

_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
#: Flags of `helm install/upgrade` that take a value the render ignores.
_IGNORED_WITH_VALUE = {"--timeout", "--version", "--description"}
_IGNORED = {"--wait", "--wait-for-jobs", "--atomic", "--rollback-on-failure", "--install"}


class StepError(AssertionError):
    """A step relies on something no earlier step created, or does not render."""


def bash_blocks(markdown: str) -> list[str]:
    """The ```bash blocks of a Markdown text, in order."""
    return [m.group(1) for m in _BLOCK.finditer(markdown)]


def section(markdown: str, heading: str) -> str:
    """The text under `heading` (a `## ` line) up to the next heading of that level."""
    start = markdown.index(f"{heading}\n")
    end = markdown.find("\n## ", start + len(heading))
    return markdown[start : end if end >= 0 else len(markdown)]


_HEREDOC = re.compile(r"<<-?\s*'?([A-Za-z_]+)'?")


def commands(block: str) -> Iterator[tuple[list[str], str | None]]:
    """Each command of a block as shell words (continuations joined, comments dropped), with
    the text of its here-document (`cat > FILE <<'EOF'` … `EOF`), if it has one."""
    lines = iter(block.replace("\\\n", " ").splitlines())
    for line in lines:
        heredoc = _HEREDOC.search(line)
        body = None
        if heredoc is not None:
            collected = []
            for text in lines:
                if text.strip() == heredoc.group(1):
                    break
                collected.append(text)
            body = "\n".join(collected) + "\n"
            line = line[: heredoc.start()]
        words = shlex.split(line, comments=True)
        if words:
            yield words, body


@dataclass
class Release:
    """What `helm` was given for one release: its namespace and value arguments, in order."""

    namespace: str
    args: list[str]
    objects: list[Manifest] = field(default_factory=list)


@dataclass
class Steps:
    """The state the steps build up: environment, namespaces, Secrets, files, releases."""

    helm: str
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    namespaces: set[str] = field(default_factory=set)
    secrets: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    releases: dict[str, Release] = field(default_factory=dict)
    rendered: list[str] = field(default_factory=list)  # the helm commands rendered, as run

    def run(self, block: str) -> None:
        for words, body in commands(block):
            words = [self._expand(w, words) for w in words]
            redirect = words.index(">") if ">" in words else None
            target = words[redirect + 1] if redirect is not None else None
            words = words[:redirect] if redirect is not None else words
            if words[0] == "export":
                self.env |= dict(w.split("=", 1) for w in words[1:])
            elif all(_ASSIGNMENT.match(w) for w in words):  # `IMAGE=… TAG=…`
                self.env |= dict(w.split("=", 1) for w in words)
            elif words[0] == "kubectl":
                self._kubectl(words[1:], target)
            elif words[0] == "helm":
                self._helm(words[1:])
            elif target is not None:  # `openssl rand -hex 32 > tokens.txt`, `cat > f <<'EOF'`
                self.files[target] = self.workdir / target
                self.files[target].write_text(body if body is not None else "generated\n")

    def _expand(self, word: str, words: list[str]) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.env:
                raise StepError(f"`{shlex.join(words)}` uses ${name}, which no step sets")
            return self.env[name]

        return _VARIABLE.sub(value, word)

    def _namespace(self, words: list[str], default: str | None = None) -> str:
        for flag in ("-n", "--namespace"):
            if flag in words:
                return words[words.index(flag) + 1]
        if default is None:
            raise StepError(f"`{shlex.join(words)}` names no namespace")
        return default

    def _path(self, name: str, words: list[str]) -> Path:
        if name in self.files:
            return self.files[name]
        path = REPO / name
        if not path.is_file():
            raise StepError(f"`{shlex.join(words)}`: {name} does not exist and no step creates it")
        return path

    def _kubectl(self, words: list[str], target: str | None) -> None:
        rest = [w for i, w in enumerate(words) if not _is_namespace(words, i)]
        if rest[:2] in (["create", "namespace"], ["create", "ns"]):
            self.namespaces.add(rest[2])
            return
        namespace = self._namespace(words, default="default")
        if rest[:2] == ["create", "secret"]:
            if namespace not in self.namespaces:
                raise StepError(
                    f"`kubectl {shlex.join(words)}`: namespace {namespace} is not created"
                )
            keys = set()
            for word in rest[4:]:
                for flag in ("--from-literal=", "--from-file="):
                    if word.startswith(flag):
                        spec = word.removeprefix(flag)
                        key, _, source = spec.partition("=") if "=" in spec else ("", "", spec)
                        if flag == "--from-file=":
                            self._path(source, ["kubectl", *words])
                        keys.add(key or Path(source).name)
            self.secrets[(namespace, rest[3])] = keys
        elif rest[:2] == ["get", "configmap"] and target is not None:
            jsonpath = next(w for w in rest if w.startswith("jsonpath="))
            field_ = re.fullmatch(r"jsonpath=\{\.data\.(.+)\}", jsonpath)
            assert field_, jsonpath
            data = self._object(namespace, "ConfigMap", rest[2])["data"]
            self.files[target] = self.workdir / target
            self.files[target].write_text(data[field_.group(1).replace("\\.", ".")])
        elif "exec" in rest:
            deployment = rest[rest.index("exec") + 1]
            if deployment.startswith("deploy/"):
                self._object(namespace, "Deployment", deployment.removeprefix("deploy/"))

    def _object(self, namespace: str, kind: str, name: str) -> Manifest:
        for release in self.releases.values():
            for obj in release.objects:
                meta = obj["metadata"]
                if (obj["kind"], meta["name"], meta.get("namespace")) == (kind, name, namespace):
                    return obj
        raise StepError(f"no {kind} {name} in namespace {namespace} is installed by the steps")

    def _helm(self, words: list[str]) -> None:
        action = words[0]
        if action == "test":
            release = self.releases.get(words[1])
            if release is None:
                raise StepError(f"`helm {shlex.join(words)}`: release {words[1]} is not installed")
            hooks = [
                o
                for o in release.objects
                if o["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"
            ]
            if not hooks:
                raise StepError(f"`helm {shlex.join(words)}`: the release renders no test Pod")
            return
        if action not in {"install", "upgrade"}:
            return
        at = _positional(words[1:])
        if len(at) != 2:
            raise StepError(f"`helm {shlex.join(words)}`: expected RELEASE CHART")
        name, chart = (words[1 + i] for i in at)
        if chart.startswith("oci://") and chart.endswith("/rtw"):
            chart = str(CHART)  # the published chart is this chart
        elif (REPO / chart).resolve() != CHART:
            raise StepError(f"`helm {shlex.join(words)}`: {chart} is not the rtw chart")
        namespace = self._namespace(words)
        if namespace not in self.namespaces and "--create-namespace" not in words:
            raise StepError(f"`helm {shlex.join(words)}`: namespace {namespace} is not created")
        self.namespaces.add(namespace)
        args = self._value_args([w for i, w in enumerate(words[1:]) if i not in at])
        installing = action == "install" or "--install" in words
        previous = self.releases.get(name)
        if previous is None and not installing:
            raise StepError(f"`helm {shlex.join(words)}`: release {name} is not installed")
        if "--reuse-values" in words:
            if previous is None:
                raise StepError(f"`helm {shlex.join(words)}` reuses the values of no release")
            args = [*previous.args, *args]
        command = ["template", name, str(CHART), "--namespace", namespace, *args]
        result = run_helm(self.helm, *command)
        if result.returncode != 0:
            raise StepError(f"`helm {shlex.join(words)}` does not render: {result.stderr}")
        self.rendered.append(shlex.join(["helm", *command]))
        objects = load(result.stdout)
        self._check_secrets(namespace, objects, words)
        self.releases[name] = Release(namespace, args, objects)

    def _value_args(self, words: list[str]) -> list[str]:
        args: list[str] = []
        i = 0
        while i < len(words):
            word = words[i]
            if word in ("-f", "--values"):
                args += ["-f", str(self._path(words[i + 1], ["helm", *words]))]
                i += 2
            elif word in ("--set", "--set-string", "--set-json", "--set-file"):
                args += [word, words[i + 1]]
                i += 2
            elif word in ("-n", "--namespace", *_IGNORED_WITH_VALUE):
                i += 2
            elif word in (*_IGNORED, "--reuse-values", "--create-namespace"):
                i += 1
            else:
                raise StepError(f"helm flag {word!r} is not understood by the quickstart check")
        return args

    def _check_secrets(self, namespace: str, objects: list[Manifest], words: list[str]) -> None:
        for secret, key, where in secret_references(objects):
            keys = self.secrets.get((namespace, secret))
            if keys is None:
                raise StepError(
                    f"`helm {shlex.join(words)}`: {where} needs Secret {secret} in namespace "
                    f"{namespace}, which no step creates"
                )
            if key is not None and key not in keys:
                raise StepError(
                    f"`helm {shlex.join(words)}`: {where} reads key {key!r} of Secret {secret}, "
                    f"which the step creates with {sorted(keys)}"
                )


def _positional(words: list[str]) -> list[int]:
    """Where the words of a helm command are neither flags nor flag values."""
    with_value = {"-n", "--namespace", "-f", "--values", "--set", "--set-string", "--set-json",
                  "--set-file", *_IGNORED_WITH_VALUE}  # fmt: skip
    found = []
    skip = False
    for i, word in enumerate(words):
        if skip:
            skip = False
        elif word in with_value:
            skip = True
        elif not word.startswith("-"):
            found.append(i)
    return found


def _is_namespace(words: list[str], i: int) -> bool:
    return words[i] in ("-n", "--namespace") or (i > 0 and words[i - 1] in ("-n", "--namespace"))


def secret_references(objects: list[Manifest]) -> Iterator[tuple[str, str | None, str]]:
    """(Secret, key or None, where) of every Secret the rendered objects read."""
    for obj in objects:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] == "TriggerAuthentication":
            for ref in obj["spec"]["secretTargetRef"]:
                yield ref["name"], ref["key"], where
        spec: dict[str, Any] | None = None
        if obj["kind"] == "Pod":
            spec = obj["spec"]
        elif obj["kind"] in {"Deployment", "Job"}:
            spec = obj["spec"]["template"]["spec"]
        if spec is None:
            continue
        for pull in spec.get("imagePullSecrets", []):
            yield pull["name"], None, where
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                items = volume["secret"].get("items") or [{"key": None}]
                for item in items:
                    yield volume["secret"]["secretName"], item["key"], where
        for container in spec["containers"] + spec.get("initContainers", []):
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    yield ref["name"], ref["key"], where
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    yield source["secretRef"]["name"], None, where
