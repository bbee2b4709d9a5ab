"""Audit API: the chain's events (filtered, scoped) and its verification.

Deny by default (``Authenticated`` with the ``audit`` scope family); reads come from the audit selectors."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.filters import SelectorFilterBackend, SelectorFilterMixin
from core.api.permissions import Authenticated
from core.api.serializers import error_responses
from core.errors import PermissionDenied
from governance.audit.api.serializers import AuditEventSerializer, ChainVerificationSerializer
from governance.audit.filtersets import AuditEventFilterSet
from governance.audit.permissions import VIEW_AUDIT
from governance.audit.selectors import audit_event_list
from governance.audit.services import audit_verify


@extend_schema_view(
    list=extend_schema(
        summary="List audit events",
        description="Newest first. Users without `governance.view_auditevent` get an empty list.",
        responses={200: AuditEventSerializer(many=True), **error_responses(400, 403, 404)},
    ),
)
class AuditEventViewSet(SelectorFilterMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """The audit chain, read-only."""

    permission_classes = [Authenticated]
    scope = "audit"
    serializer_class = AuditEventSerializer
    filter_backends = [SelectorFilterBackend]
    filterset_class = AuditEventFilterSet

    def get_queryset(self):
        return audit_event_list(user=self.request.user, filters=self.selector_filters())

    @extend_schema(
        summary="Verify the audit chain",
        description="Recomputes every event's hash and link; reports the first broken event. "
        "Needs `governance.view_auditevent` (403 otherwise).",
        filters=False,
        responses={200: ChainVerificationSerializer, **error_responses(403)},
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def verify(self, request):
        if not request.user.has_perm(VIEW_AUDIT):
            raise PermissionDenied(_("You may not verify the audit chain."))
        return Response(ChainVerificationSerializer(audit_verify().as_dict()).data)
