"""The sidecar's config with the sources and checks the services file implies.

The sidecar's own config file keeps what is the sidecar's (server, Loki, shipping) and
may list sources and checks of its own (in compose: the alert inbox's records); the
services file adds, for each service it lists (or each of `services_file.services`),
one source per `logs` entry (named by its `source`, default the service's name) and one
check per `health` entry (named `<service>-<check>`). Errors name the service and the
field, in the loader's form: `services[1] (orders-api): logs[0]: ...`.
"""

from __future__ import annotations

from sidecar.config import SidecarConfig
from sidecar.health.config import HealthConfig, HttpCheck, TcpCheck
from sidecar.services.loader import ServicesFileError
from sidecar.services.model import ServicesFile
from sidecar.shipping.config import SourceConfig


def selected(services: ServicesFile, names: list[str] | None, origin: str) -> list[int]:
    """Indexes of the services the sidecar watches: `names` (all when None), in file order."""
    listed = [service.name for service in services.services]
    if names is None:
        return list(range(len(listed)))
    for name in names:
        if name not in listed:
            raise ServicesFileError(
                f"{origin}: services_file.services names {name!r}, which the file does not "
                f"list (it lists {', '.join(listed) or 'no service'})"
            )
    return [index for index, name in enumerate(listed) if name in names]


def with_services(config: SidecarConfig, services: ServicesFile, origin: str) -> SidecarConfig:
    """`config` plus the sources and checks of the services it watches in `services`."""
    file = config.services_file
    names = file.services if file is not None else None
    sources: list[SourceConfig] = list(config.sources)
    checks: list[HttpCheck | TcpCheck] = list(config.health.checks)
    own_sources = {source.name for source in sources}
    own_checks = {check.name for check in checks}
    limit = config.shipping.max_line_bytes
    for index in selected(services, names, origin):
        service = services.services[index]
        where = f"{origin}: services[{index}] ({service.name})"
        for position, log in enumerate(service.logs):
            source = log.sidecar_source(service.name)
            if source.name in own_sources:
                raise ServicesFileError(
                    f"{where}: logs[{position}]: the source name {source.name!r} is one of the "
                    "sidecar config's own sources; set `source` to another name"
                )
            if source.multiline is not None and (source.multiline.max_bytes or 0) > limit:
                raise ServicesFileError(
                    f"{where}: logs[{position}].multiline.max_bytes: "
                    f"{source.multiline.max_bytes} exceeds the sidecar's "
                    f"shipping.max_line_bytes ({limit})"
                )
            sources.append(source)
        for position, entry in enumerate(service.health):
            check = entry.sidecar_check(service.name)
            if check.name in own_checks:
                raise ServicesFileError(
                    f"{where}: health[{position}] ({entry.name}): the check name "
                    f"{check.name!r} is one of the sidecar config's own checks; rename it"
                )
            checks.append(check)
    return config.model_copy(update={"sources": sources, "health": HealthConfig(checks=checks)})
