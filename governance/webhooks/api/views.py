"""Webhook API: subscribers (administrators manage, auditors read) and their delivery logs, redelivery.

Reads come from ``governance.webhooks.selectors``; each write validates types with an input serializer and makes one
``governance.webhooks.services`` call.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from core.api.parsers import JSONParser
from core.api.permissions import Authenticated
from core.api.serializers import error_responses
from core.api.serializers import validated as _validated
from governance.webhooks import selectors, services
from governance.webhooks.api import serializers as s
from governance.webhooks.models import DeliveryStatus

ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Id.")


@extend_schema_view(
    list=extend_schema(summary="List webhook subscribers", responses={200: s.SubscriberSerializer(many=True),
                                                                      **error_responses(403, 404)}),
    retrieve=extend_schema(summary="Get a webhook subscriber", parameters=[ID],
                           responses={200: s.SubscriberSerializer, **error_responses(403, 404)}),
)
class SubscriberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Who receives signed webhooks (Standard Webhooks) for which events."""

    permission_classes = [Authenticated]
    scope = "webhooks"
    serializer_class = s.SubscriberSerializer
    parser_classes = [JSONParser]
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return selectors.WebhookSubscriber.objects.none()
        return selectors.subscriber_list(user=self.request.user)

    @extend_schema(summary="Add a webhook subscriber", request=s.SubscriberCreateSerializer,
                   description="The URL must be https and resolve to public addresses only (`destination_not_allowed` "
                   "otherwise, unless the operator allows the host). The answer carries the signing secret, once.",
                   responses={201: s.SubscriberWithSecretSerializer, **error_responses(400, 403)})
    def create(self, request):
        subscriber = services.subscriber_create(actor=request.user,
                                                **_validated(s.SubscriberCreateSerializer, request.data))
        return Response(s.SubscriberWithSecretSerializer(subscriber).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Change a webhook subscriber", parameters=[ID], request=s.SubscriberUpdateSerializer,
                   description="Name, URL (checked like on creation), events, or `active: false` to pause it.",
                   responses={200: s.SubscriberSerializer, **error_responses(400, 403, 404)})
    def partial_update(self, request, pk=None):
        subscriber = services.subscriber_update(actor=request.user, subscriber=self.get_object(),
                                                **_validated(s.SubscriberUpdateSerializer, request.data))
        return Response(s.SubscriberSerializer(subscriber).data)

    @extend_schema(summary="Rotate a subscriber's secret", parameters=[ID], request=None,
                   description="A new secret, shown once; the previous one signs beside it for 24 hours.",
                   responses={200: s.SubscriberWithSecretSerializer, **error_responses(403, 404)})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        subscriber = services.subscriber_rotate_secret(actor=request.user, subscriber=self.get_object())
        return Response(s.SubscriberWithSecretSerializer(subscriber).data)

    @extend_schema(summary="Send a test message", parameters=[ID], request=None,
                   description="A `webhook.test` message, signed and delivered like every other.",
                   responses={202: s.DeliverySerializer, **error_responses(403, 404)})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        delivery = services.subscriber_test(actor=request.user, subscriber=self.get_object())
        return Response(s.DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    list=extend_schema(summary="List webhook deliveries", parameters=[
        OpenApiParameter("subscriber", int, description="Only this subscriber's."),
        OpenApiParameter("status", str, enum=DeliveryStatus.values, description="Only deliveries in this status.")],
        responses={200: s.DeliverySerializer(many=True), **error_responses(400, 403, 404)}),
    retrieve=extend_schema(summary="Get a webhook delivery with its attempts", parameters=[ID],
                           responses={200: s.DeliverySerializer, **error_responses(403, 404)}),
)
class DeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Every message sent to subscribers, with each attempt's status and response time."""

    permission_classes = [Authenticated]
    scope = "webhooks"
    serializer_class = s.DeliverySerializer
    parser_classes = [JSONParser]
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return selectors.WebhookDelivery.objects.none()
        params = self.request.query_params if self.action == "list" else {}
        status_filter = params.get("status", "")
        if status_filter and status_filter not in DeliveryStatus.values:
            raise ValidationError({"status": [f"Use one of {', '.join(DeliveryStatus.values)}."]})
        subscriber = None
        if params.get("subscriber"):
            if not str(params["subscriber"]).isdigit():
                raise ValidationError({"subscriber": ["A subscriber id."]})
            subscriber = selectors.subscriber_list(user=self.request.user).filter(pk=params["subscriber"]).first()
            if subscriber is None:
                return selectors.WebhookDelivery.objects.none()
        return selectors.delivery_list(user=self.request.user, subscriber=subscriber, status=status_filter
                                       ).prefetch_related("attempt_log")

    @extend_schema(summary="Redeliver now", parameters=[ID], request=None,
                   description="One more attempt now with the same message id (a receiver that got it already "
                   "can tell), logged as manual.",
                   responses={200: s.DeliverySerializer, **error_responses(403, 404)})
    @action(detail=True, methods=["post"])
    def redeliver(self, request, pk=None):
        delivery = services.delivery_redeliver(actor=request.user, delivery=self.get_object())
        return Response(s.DeliverySerializer(delivery).data)
