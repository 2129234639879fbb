"""REST API for department systems: add a webhook endpoint, rotate its secret; each secret returned once."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.access import access_department, signed_in
from reporting.access import access_endpoint
from reporting.api.inputs import EndpointIn
from reporting.api.schemas import ErrorOut
from reporting.services import endpoints
from reporting.services.endpoints import Secret


class EndpointSecretOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    url = serializers.CharField()
    active = serializers.BooleanField()
    secret = serializers.CharField(help_text="the signing secret (`whsec_…`): returned this once, never again")
    previous_secret_valid_until = serializers.DateTimeField(
        allow_null=True, help_text="after a rotation: until when the previous secret also signs every request"
    )


def secret_json(shown: Secret) -> dict:
    until = shown.previous_valid_until
    return {
        "id": shown.endpoint.pk,
        "name": shown.endpoint.name,
        "url": shown.endpoint.url,
        "active": shown.endpoint.active,
        "secret": shown.secret,
        "previous_secret_valid_until": until.isoformat() if until else None,
    }


class EndpointsView(APIView):
    @extend_schema(
        summary="Add a webhook endpoint; its signing secret is in this answer and never again",
        operation_id="department_endpoint_add",
        request=EndpointIn,
        responses={201: EndpointSecretOut, 400: ErrorOut, 404: ErrorOut},
    )
    def post(self, request: Request) -> Response:
        department = access_department(request.user)
        body = EndpointIn.parse(request.data)
        added = endpoints.add_endpoint(department=department, **body, by=signed_in(request.user))
        return Response(secret_json(added), status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})


class EndpointRotateView(APIView):
    @extend_schema(
        summary="Give an endpoint a new signing secret (the old one also signs for 24 hours); returned this once",
        operation_id="department_endpoint_rotate",
        request=None,
        responses={200: EndpointSecretOut, 404: ErrorOut},
    )
    def post(self, request: Request, pk: int) -> Response:
        department = access_department(request.user)
        endpoint = access_endpoint(department, pk)
        rotated = endpoints.rotate_endpoint_secret(endpoint=endpoint, by=signed_in(request.user))
        return Response(secret_json(rotated), headers={"Cache-Control": "no-store"})
