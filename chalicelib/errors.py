"""Domain errors; entrypoints decide what each means on their transport."""

from __future__ import annotations


class SagewireError(Exception):
    """Base of every error sagewire raises on purpose; `code` is stable and machine-readable."""

    code = "Error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MalformedInput(SagewireError):
    """The input cannot be parsed at all."""

    code = "MalformedInput"


class EmptyInput(MalformedInput):
    code = "EmptyInput"


class InputTooLarge(SagewireError):
    """The input exceeds a size cap (bytes, pixels, rows, columns, depth)."""

    code = "InputTooLarge"


class UnsupportedMediaType(SagewireError):
    code = "UnsupportedMediaType"


class InvalidShape(SagewireError):
    """Well-formed input that does not fit what the model expects."""

    code = "InvalidShape"


class InvalidDefinition(SagewireError):
    """A project definition that breaks the schema; `field` names the offending field."""

    code = "InvalidDefinition"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class InvalidVocabulary(SagewireError):
    """A project's vocabulary that is missing, unreadable, too big or not word -> index JSON."""

    code = "InvalidVocabulary"


class InvalidParameter(SagewireError):
    """A query or path parameter with a wrong value."""

    code = "InvalidParameter"


class NotFound(SagewireError):
    code = "NotFound"


class ProjectNotFound(NotFound):
    code = "ProjectNotFound"


class EndpointNotFound(NotFound):
    code = "EndpointNotFound"


class PromotionNotFound(NotFound):
    code = "PromotionNotFound"


class Conflict(SagewireError):
    code = "Conflict"


class EndpointNotManaged(Conflict):
    """A change to an endpoint sagewire fronts but never changes (`endpoint.managed: false`)."""

    code = "EndpointNotManaged"


class PreconditionFailed(SagewireError):
    """A write conditioned on a revision of the resource that is not the current one."""

    code = "PreconditionFailed"


class ModelFailed(SagewireError):
    """The model container answered with an error."""

    code = "ModelError"


class ServiceUnavailable(SagewireError):
    """Throttled, not ready or temporarily unavailable: try again after `retry_after` seconds."""

    code = "ServiceUnavailable"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EndpointUnavailable(ServiceUnavailable):
    """SageMaker (an endpoint or the control plane) is throttled, not ready or unreachable."""

    code = "EndpointUnavailable"


class EndpointTimeout(SagewireError):
    code = "EndpointTimeout"


class EndpointBusy(SagewireError):
    """SageMaker refuses the update while the endpoint is Creating, Updating or RollingBack;
    `retry_after` seconds when it is known how long that lasts."""

    code = "EndpointBusy"

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DeploymentFailed(SagewireError):
    """SageMaker refused a deployment step for a reason retrying will not fix."""

    code = "DeploymentFailed"
