"""moto's server with SageMaker `UpdateEndpoint`, for Pluto's tests.

moto 5.2.1 has no SageMaker `UpdateEndpoint`, which the AWS engine calls to point an endpoint at
a new endpoint configuration (blue/green: create the new config, update the endpoint, delete the
old config). This launcher adds it to moto's SageMaker backend and response handler, then runs
moto's own server main with the same arguments as `moto_server` (e.g. `-H 127.0.0.1 -p PORT`).

Run it with the Python interpreter that has moto installed (the one next to `moto_server`).
"""

import sys

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse
from moto.server import main


def update_endpoint(
    self: SageMakerModelBackend, endpoint_name: str, endpoint_config_name: str
) -> FakeEndpoint:
    """Points the endpoint at another configuration, as AWS does once the update is done.

    moto has no asynchronous state, so the endpoint stays `InService`. An unknown endpoint or
    configuration is a `ValidationException` ("Could not find ..."), as in AWS.
    """
    endpoint = self.endpoints.get(endpoint_name)
    if endpoint is None:
        arn = FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
        raise ValidationError(message=f"Could not find endpoint '{arn}'.")
    config = self.endpoint_configs.get(endpoint_config_name)
    if config is None:
        arn = FakeEndpointConfig.arn_formatter(
            endpoint_config_name, self.account_id, self.region_name
        )
        raise ValidationError(message=f"Could not find endpoint configuration '{arn}'.")
    described = config.response_object
    endpoint.endpoint_config_name = endpoint_config_name
    endpoint.production_variants = endpoint._process_production_variants(
        described["ProductionVariants"]
    )
    endpoint.data_capture_config = described.get("DataCaptureConfig")
    endpoint.last_modified_time = utcnow()
    return endpoint


def update_endpoint_response(self: SageMakerResponse) -> ActionResult:
    """`UpdateEndpoint` (JSON, `X-Amz-Target: SageMaker.UpdateEndpoint`)."""
    endpoint = self.sagemaker_backend.update_endpoint(
        endpoint_name=self._get_param("EndpointName"),
        endpoint_config_name=self._get_param("EndpointConfigName"),
    )
    return ActionResult({"EndpointArn": endpoint.arn})


def patch() -> None:
    """Adds the missing operations to moto's classes (idempotent)."""
    SageMakerModelBackend.update_endpoint = update_endpoint  # type: ignore[attr-defined]
    SageMakerResponse.update_endpoint = update_endpoint_response  # type: ignore[attr-defined]


if __name__ == "__main__":
    patch()
    sys.exit(main(sys.argv[1:]))
