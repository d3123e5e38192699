"""Application Auto Scaling refuses a SageMaker variant that does not exist, as AWS does.

AWS answers RegisterScalableTarget for `endpoint/{name}/variant/{variant}` with a
ValidationException when the endpoint has no such variant; moto accepts any well-formed
resource id (it checks that ECS services exist, nothing for SageMaker). `install()` wraps
moto's backend method in the stack's own process, where moto's server runs, the same way moto
checks ECS: the check asks the SageMaker emulator for the endpoint's variants, and a refused
call leaves nothing registered. Updating a target whose variant still exists works as before;
scalable targets of other services are not touched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .catalog import ApiError

VARIANT_DIMENSIONS = frozenset(
    {"sagemaker:variant:DesiredInstanceCount", "sagemaker:variant:DesiredProvisionedConcurrency"}
)
VariantsOf = Callable[[str], Sequence[str] | None]  # an endpoint's variant names; None: no endpoint
_INSTALLED = "_wasync_variant_check"


def missing_variant(
    namespace: str, resource_id: str, dimension: str, variants_of: VariantsOf
) -> str | None:
    """Why AWS would refuse this scalable target, or None when its variant exists."""
    parts = resource_id.split("/")
    if namespace != "sagemaker" or dimension not in VARIANT_DIMENSIONS:
        return None
    if len(parts) != 4 or parts[0] != "endpoint" or parts[2] != "variant":
        return None  # moto's own check refuses a malformed id with AWS's message
    endpoint, variant = parts[1], parts[3]
    variants = variants_of(endpoint)
    if variants is None:
        return (
            f"The endpoint {endpoint!r} does not exist, so {resource_id} cannot be registered "
            "as a scalable target. Create the endpoint first, or check its name."
        )
    if variant not in variants:
        return (
            f"The endpoint {endpoint!r} has no variant {variant!r} (its variants: "
            f"{', '.join(variants) or 'none'}), so {resource_id} cannot be registered as a "
            "scalable target. Use one of its variant names."
        )
    return None


def variants_via(call: Callable[[str, dict[str, Any]], Mapping[str, Any]]) -> VariantsOf:
    """Variant names read through the emulator's DescribeEndpoint (`ControlPlane.call`)."""

    def variants_of(endpoint: str) -> Sequence[str] | None:
        try:
            described = call("DescribeEndpoint", {"EndpointName": endpoint})
        except ApiError:  # not found, or not a valid endpoint name
            return None
        return [variant["VariantName"] for variant in described.get("ProductionVariants", [])]

    return variants_of


def install(variants_of: VariantsOf) -> None:
    """Check every RegisterScalableTarget of a SageMaker variant before moto registers it."""
    from moto.applicationautoscaling.exceptions import AWSValidationException
    from moto.applicationautoscaling.models import ApplicationAutoscalingBackend

    register = ApplicationAutoscalingBackend.register_scalable_target
    if getattr(register, _INSTALLED, False):
        return

    def checked(backend: Any, namespace: str, r_id: str, dimension: str, **rest: Any) -> Any:
        reason = missing_variant(namespace, r_id, dimension, variants_of)
        if reason:
            raise AWSValidationException(reason)
        return register(backend, namespace, r_id, dimension, **rest)

    setattr(checked, _INSTALLED, True)
    ApplicationAutoscalingBackend.register_scalable_target = checked  # type: ignore[method-assign,assignment]  # moto's method, wrapped
