"""The compose stack's safety policy, as code: what every service must (not) do.

`check_compose(document, base_dir)` returns the violations of a compose
document: the file as written (short syntax, `${VAR}` left in place) or the
normalised output of `docker compose config --format json` (long syntax).
Both spellings are understood, so the same rules guard the repository's files
and what Compose actually resolves from them.

Rules (one `Violation.rule` name each):
  image-pinned       image tag is a version (or a digest), never `latest`; the
                     FROM lines of the Dockerfiles we build are held to the same
  healthcheck        a healthcheck that is not disabled (one-shot jobs excepted)
  restart            a restart policy other than "no"; a one-shot job (a service
                     another waits on with service_completed_successfully) the
                     opposite: "no" or on-failure, never restarted forever
  depends-on         every depends_on entry waits on a condition
  memory-limit       deploy.resources.limits.memory or mem_limit
  non-root           `user` set to a non-root uid; not privileged
  read-only-rootfs   read_only: true
  no-new-privileges  security_opt has no-new-privileges:true
  localhost-ports    every published port bound to 127.0.0.1; no host networking
  config-read-only   every bind mount (a config from the repo) is read-only
  no-default-secret  no literal or defaulted password/secret/token (a *_FILE
                     variable names a file, not a secret); the Grafana admin
                     password is required (`${VAR:?...}`) or read from a file
                     (GF_SECURITY_ADMIN_PASSWORD__FILE); anonymous off
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FLOATING_TAGS = frozenset({"latest", "main", "master", "edge", "nightly", "stable", "dev"})
SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY)", re.IGNORECASE)
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")
LOOPBACK = frozenset({"127.0.0.1", "::1", "[::1]"})
ROOT_USERS = frozenset({"", "0", "root"})


@dataclass(frozen=True)
class Violation:
    service: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.service}: [{self.rule}] {self.message}"


def check_compose(
    document: Mapping[str, Any], base_dir: Path, *, interpolated: bool = False
) -> list[Violation]:
    """Every violation of the policy in `document`; `base_dir` resolves build contexts.

    `interpolated`: the document is `docker compose config` output, where every
    `${VAR}` is already replaced by its value; the secret rules, which judge how
    the file spells a value, are then left to the check of the file itself.
    """
    services = document.get("services") or {}
    one_shots = _one_shots(services)
    violations: list[Violation] = []
    for name, service in services.items():
        checks = _check_service(service or {}, base_dir, interpolated, name in one_shots)
        for rule, message in checks:
            violations.append(Violation(name, rule, message))
    return violations


def _one_shots(services: Mapping[str, Any]) -> set[str]:
    """Services another one waits on to complete: jobs that run once per `up`, then exit."""
    found = set()
    for service in services.values():
        depends_on = (service or {}).get("depends_on")
        if isinstance(depends_on, Mapping):
            for dependency, spec in depends_on.items():
                if isinstance(spec, Mapping) and (
                    spec.get("condition") == "service_completed_successfully"
                ):
                    found.add(dependency)
    return found


def _check_service(
    service: Mapping[str, Any], base_dir: Path, interpolated: bool, one_shot: bool
) -> Iterable[tuple[str, str]]:
    yield from _image(service, base_dir)
    if one_shot:
        yield from _one_shot_restart(service)
    else:
        yield from _healthcheck(service)
        yield from _restart(service)
    yield from _depends_on(service)
    yield from _memory(service)
    yield from _user(service)
    if service.get("read_only") is not True:
        yield "read-only-rootfs", "read_only is not true"
    if not any(_is_no_new_privileges(opt) for opt in service.get("security_opt") or []):
        yield "no-new-privileges", "security_opt lacks no-new-privileges:true"
    yield from _ports(service)
    yield from _mounts(service)
    if not interpolated:
        yield from _secrets(service)


def image_reference_problem(reference: str) -> str | None:
    """Why `reference` is not pinned, or None when it is (a version tag or a digest)."""
    if "${" in reference:
        return f"{reference!r} is chosen by a variable, so nothing pins it"
    if "@sha256:" in reference:
        return None
    last = reference.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"{reference!r} has no tag (Docker reads that as latest)"
    tag = last.rsplit(":", 1)[1]
    if tag.lower() in FLOATING_TAGS or not any(char.isdigit() for char in tag):
        return f"{reference!r} uses the floating tag {tag!r}"
    return None


def _image(service: Mapping[str, Any], base_dir: Path) -> Iterable[tuple[str, str]]:
    image = service.get("image")
    build = service.get("build")
    if image is None and build is None:
        yield "image-pinned", "neither image nor build is set"
    if image is not None:
        problem = image_reference_problem(str(image))
        if problem:
            yield "image-pinned", problem
    elif build is not None:
        yield "image-pinned", "a built image needs an explicit image: name:version"
    if build is not None:
        for reference in _dockerfile_bases(build, base_dir):
            problem = image_reference_problem(reference)
            if problem:
                yield "image-pinned", f"Dockerfile FROM {problem}"


def _dockerfile_bases(build: Any, base_dir: Path) -> list[str]:
    if isinstance(build, str):
        context, dockerfile = build, "Dockerfile"
    else:
        context, dockerfile = build.get("context", "."), build.get("dockerfile", "Dockerfile")
        if build.get("dockerfile_inline"):
            return _from_lines(build["dockerfile_inline"])
    path = (base_dir / context / dockerfile).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"the Dockerfile {path} that the compose file builds is missing")
    return _from_lines(path.read_text(encoding="utf-8"))


def _from_lines(text: str) -> list[str]:
    stages: set[str] = set()
    bases: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].upper() != "FROM":
            continue
        words = [word for word in words[1:] if not word.startswith("--")]
        if not words:
            continue
        reference = words[0]
        if len(words) >= 3 and words[1].upper() == "AS":
            stages.add(words[2].lower())
        if reference.lower() not in stages and reference != "scratch":
            bases.append(reference)
    return bases


def _healthcheck(service: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    check = service.get("healthcheck")
    if not check:
        yield "healthcheck", "no healthcheck"
        return
    test = check.get("test")
    if check.get("disable") or not test or (isinstance(test, list) and test[0] == "NONE"):
        yield "healthcheck", "the healthcheck is disabled"


def _restart(service: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    restart = service.get("restart")
    if restart in (None, "no", False):
        yield "restart", "no restart policy"


def _one_shot_restart(service: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    restart = str(service.get("restart", "no"))
    if restart in ("always", "unless-stopped"):
        yield "restart", f'a one-shot job with restart {restart!r} would run forever (use "no")'


def _depends_on(service: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    depends_on = service.get("depends_on")
    if depends_on is None:
        return
    if isinstance(depends_on, list):
        yield "depends-on", f"depends_on {depends_on} waits on no condition (use the long form)"
        return
    for dependency, spec in depends_on.items():
        if not isinstance(spec, Mapping) or not spec.get("condition"):
            yield "depends-on", f"depends_on {dependency} has no condition"


def _memory(service: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    limits = ((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    if not limits.get("memory") and not service.get("mem_limit"):
        yield "memory-limit", "no memory limit"


def _user(service: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    user = service.get("user")
    if user is None:
        yield "non-root", "no user: the image's default may be root"
    elif str(user).split(":", 1)[0].strip() in ROOT_USERS:
        yield "non-root", f"user {user!r} is root"
    if service.get("privileged"):
        yield "non-root", "privileged: true"


def _is_no_new_privileges(option: str) -> bool:
    spelled = option.replace("=", ":").replace(" ", "")
    return spelled in ("no-new-privileges:true", "no-new-privileges")


def _ports(service: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    if service.get("network_mode") == "host":
        yield "localhost-ports", "network_mode: host publishes every port on every interface"
    for port in service.get("ports") or []:
        host_ip = _port_host_ip(port)
        if host_ip not in LOOPBACK:
            where = host_ip or "all interfaces"
            yield "localhost-ports", f"port {port!r} is published on {where}, not 127.0.0.1"


def _port_host_ip(port: Any) -> str | None:
    if isinstance(port, Mapping):
        return port.get("host_ip")
    # ${PORT:-8000} holds a colon of its own; only the shape matters here.
    text = INTERPOLATION.sub("0", str(port))
    if text.startswith("["):  # [::1]:8000:8000
        return text[: text.index("]") + 1]
    parts = text.split(":")
    return parts[0] if len(parts) == 3 else None


def _mounts(service: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    for volume in service.get("volumes") or []:
        if isinstance(volume, Mapping):
            is_bind = volume.get("type") == "bind"
            read_only = bool(volume.get("read_only"))
            label = f"{volume.get('source')}:{volume.get('target')}"
        else:
            parts = str(volume).split(":")
            is_bind = parts[0].startswith((".", "/", "~")) and len(parts) > 1
            read_only = len(parts) > 2 and "ro" in parts[2].split(",")
            label = str(volume)
        if is_bind and not read_only:
            yield "config-read-only", f"bind mount {label!r} is writable (add :ro)"


def _environment(service: Mapping[str, Any]) -> dict[str, str | None]:
    environment = service.get("environment") or {}
    if isinstance(environment, Mapping):
        return {str(k): None if v is None else str(v) for k, v in environment.items()}
    pairs: dict[str, str | None] = {}
    for entry in environment:
        name, _, value = str(entry).partition("=")
        pairs[name] = value if "=" in str(entry) else None
    return pairs


def _secrets(service: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    environment = _environment(service)
    for name, value in environment.items():
        # NAME_FILE / NAME__FILE hold the path of a secret file, not a secret.
        if value is None or not SECRET_NAME.search(name) or name.endswith("_FILE"):
            continue
        yield from _secret_value(name, value)
    anonymous = environment.get("GF_AUTH_ANONYMOUS_ENABLED")
    if anonymous is not None and anonymous.strip().lower() != "false":
        yield "no-default-secret", f"GF_AUTH_ANONYMOUS_ENABLED is {anonymous!r}, not false"
    if "GF_SECURITY_ADMIN_PASSWORD" in environment:
        match = INTERPOLATION.fullmatch((environment["GF_SECURITY_ADMIN_PASSWORD"] or "").strip())
        if match is None or match.group("op") not in (":?", "?"):
            yield (
                "no-default-secret",
                "GF_SECURITY_ADMIN_PASSWORD must be required, e.g. ${GF_ADMIN_PASSWORD:?...}",
            )
    elif "GF_SECURITY_ADMIN_PASSWORD__FILE" in environment:
        path = (environment["GF_SECURITY_ADMIN_PASSWORD__FILE"] or "").strip()
        if not path.startswith("/"):
            yield (
                "no-default-secret",
                f"GF_SECURITY_ADMIN_PASSWORD__FILE must name a file, got {path!r}",
            )
    elif _is_grafana(service, environment):
        yield "no-default-secret", "Grafana without GF_SECURITY_ADMIN_PASSWORD uses admin/admin"


def _is_grafana(service: Mapping[str, Any], environment: Mapping[str, str | None]) -> bool:
    image = str(service.get("image") or "").rsplit(":", 1)[0]
    return image.endswith("grafana/grafana") or any(
        key.startswith(("GF_SECURITY_", "GF_AUTH_")) for key in environment
    )


def _secret_value(name: str, value: str) -> Iterable[tuple[str, str]]:
    text = value.strip()
    if not text:
        return
    match = INTERPOLATION.fullmatch(text)
    if match is None:
        yield "no-default-secret", f"{name} has a literal value in the compose file"
    elif match.group("op") in (":-", "-") and match.group("arg"):
        yield "no-default-secret", f"{name} falls back to a default ({match.group('arg')!r})"
