"""Serving API serializers: output shapes, and input types with their bounds (the services check the rules)."""

from __future__ import annotations

from rest_framework import serializers

from core.api.serializers import MAX_ID
from serving.choices import CHALLENGER_STRATEGIES, Environment, PolicyAction, ServedRole, Strategy
from serving.models import Deployment, EnrolmentToken, Host

NAME = {"max_length": 100}
REASON = {"max_length": 2000}
SHA256 = {"min_length": 64, "max_length": 64}
MAX_COUNT = 2**31 - 1


class HostSerializer(serializers.ModelSerializer):
    health = serializers.SerializerMethodField()
    cost_per_hour = serializers.DecimalField(max_digits=12, decimal_places=4, read_only=True)

    class Meta:
        model = Host
        fields = ["id", "name", "address", "labels", "gpu_model", "gpu_memory_mb", "provider", "agent_version",
                  "cost_per_hour", "currency", "enrolled_at", "last_heartbeat_at", "health", "status",
                  "token_rotated_at", "revoked_at", "revoked_reason"]
        read_only_fields = fields

    def get_health(self, host) -> str:
        return host.health()


class HostUpdateSerializer(serializers.Serializer):
    cost_per_hour = serializers.DecimalField(max_digits=12, decimal_places=4, min_value=0, required=False)
    currency = serializers.CharField(min_length=3, max_length=3, required=False)
    labels = serializers.DictField(child=serializers.CharField(max_length=200), required=False)


class ServingReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(**REASON)


class EnrolmentTokenSerializer(serializers.ModelSerializer):
    host = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = EnrolmentToken
        fields = ["id", "name", "prefix", "created_by", "created_at", "expires_at", "used_at", "host"]
        read_only_fields = fields


class EnrolmentTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(**NAME)
    ttl_hours = serializers.IntegerField(min_value=1, max_value=24 * 30, required=False)


class EnrolmentTokenCreatedSerializer(EnrolmentTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The one-time enrolment token: shown once, never again.")

    class Meta(EnrolmentTokenSerializer.Meta):
        fields = [*EnrolmentTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class DeploymentSerializer(serializers.ModelSerializer):
    passport = serializers.CharField(source="passport.key", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    challenger = serializers.IntegerField(source="challenger.number", read_only=True, allow_null=True)
    hosts = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = Deployment
        fields = ["id", "passport", "environment", "version", "challenger", "strategy", "canary_percent", "hosts",
                  "personal_data_columns", "status", "generation", "created_by", "created_at", "updated_at",
                  "stopped_at", "stop_reason"]
        read_only_fields = fields


class DeploymentCreateSerializer(serializers.Serializer):
    passport = serializers.CharField(max_length=100)
    version = serializers.IntegerField(min_value=1, max_value=MAX_COUNT)
    hosts = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID), min_length=1,
                                  max_length=100)
    environment = serializers.ChoiceField(choices=Environment.choices, default=Environment.PRODUCTION)
    strategy = serializers.ChoiceField(choices=Strategy.choices, default=Strategy.FULL)
    challenger = serializers.IntegerField(min_value=1, max_value=MAX_COUNT, required=False, allow_null=True)
    canary_percent = serializers.IntegerField(min_value=0, max_value=100, default=0)
    personal_data_columns = serializers.ListField(child=serializers.CharField(max_length=200), max_length=500,
                                                  required=False)


class ChallengerSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, max_value=MAX_COUNT)
    strategy = serializers.ChoiceField(choices=CHALLENGER_STRATEGIES)
    canary_percent = serializers.IntegerField(min_value=0, max_value=100, default=0)


# --------------------------------------------------------------------------- the agents' API


class HostFactsSerializer(serializers.Serializer):
    address = serializers.CharField(max_length=300, required=False, allow_blank=True)
    labels = serializers.DictField(child=serializers.CharField(max_length=200), required=False)
    gpu_model = serializers.CharField(max_length=200, required=False, allow_blank=True)
    gpu_memory_mb = serializers.IntegerField(min_value=0, max_value=MAX_COUNT, required=False, allow_null=True)
    provider = serializers.CharField(max_length=100, required=False, allow_blank=True)
    agent_version = serializers.CharField(max_length=50, required=False, allow_blank=True)


class EnrolSerializer(HostFactsSerializer):
    token = serializers.CharField(max_length=200, help_text="The one-time enrolment token (`mge_...`).")
    name = serializers.CharField(**NAME)
    request_id = serializers.CharField(
        min_length=16, max_length=128, required=False,
        help_text="A random id the agent keeps until it has saved its answer. Sent again with the same token and "
                  "name within 10 minutes, before the host's first heartbeat, it gets a fresh host token (the "
                  "first answer was lost) instead of `enrolment_token_used`.")


class EnrolledSerializer(serializers.Serializer):
    host = serializers.IntegerField()
    name = serializers.CharField()
    host_token = serializers.CharField(help_text="This host's own token (`mgh_...`): shown once.")
    public_key_pem = serializers.CharField(help_text="The control plane's release-signing public key.")
    key_id = serializers.CharField()
    poll_seconds = serializers.FloatField()


class RotatedSerializer(serializers.Serializer):
    host_token = serializers.CharField()


class ServedSerializer(serializers.Serializer):
    deployment = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    release = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True)
    role = serializers.CharField(max_length=20, required=False)
    version = serializers.IntegerField(min_value=1, max_value=MAX_COUNT, required=False)
    state = serializers.CharField(max_length=50)
    error = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class ProblemSerializer(serializers.Serializer):
    kind = serializers.CharField(max_length=50, help_text="e.g. `digest_mismatch`, `signature_invalid`, "
                                                           "`stop_limit_reached`, `load_failed`, `log_unavailable`, "
                                                           "`log_disk_low`.")
    message = serializers.CharField(max_length=2000)
    deployment = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True)
    release = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True)
    args = serializers.DictField(
        child=serializers.CharField(max_length=500, allow_blank=True), required=False,
        help_text="The values the message is made of (for example `free_mb`, `floor_mb` and `path` of "
                  "`log_disk_low`), so that the control plane can say it in its readers' language.")

    def validate_args(self, value: dict) -> dict:
        if len(value) > 10 or any(len(key) > 40 for key in value):
            raise serializers.ValidationError("At most 10 values, each named in at most 40 characters.")
        return value


class HeartbeatSerializer(HostFactsSerializer):
    serving = ServedSerializer(many=True, required=False, max_length=500)
    problems = ProblemSerializer(many=True, required=False, max_length=100)


class HeartbeatAnswerSerializer(serializers.Serializer):
    etag = serializers.CharField(help_text="The desired state's etag now: poll `state` when it changed.")
    poll_seconds = serializers.FloatField()


class WindowSerializer(serializers.Serializer):
    deployment = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    version = serializers.IntegerField(min_value=1, max_value=MAX_COUNT)
    role = serializers.ChoiceField(choices=ServedRole.choices, default=ServedRole.CHAMPION)
    sequence = serializers.IntegerField(min_value=0, max_value=MAX_ID)
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField()
    requests = serializers.IntegerField(min_value=0, max_value=MAX_COUNT)
    predictions = serializers.IntegerField(min_value=0, max_value=MAX_COUNT, default=0)
    errors = serializers.DictField(child=serializers.IntegerField(min_value=0, max_value=MAX_COUNT), required=False)
    latency_p50_ms = serializers.FloatField(min_value=0, max_value=1e9, required=False, allow_null=True)
    latency_p95_ms = serializers.FloatField(min_value=0, max_value=1e9, required=False, allow_null=True)
    latency_p99_ms = serializers.FloatField(min_value=0, max_value=1e9, required=False, allow_null=True)
    psi = serializers.DictField(child=serializers.FloatField(min_value=0, max_value=1e6, allow_null=True),
                                required=False)
    score_psi = serializers.FloatField(min_value=0, max_value=1e6, required=False, allow_null=True)
    shadow_disagreement = serializers.FloatField(min_value=0, max_value=1, required=False, allow_null=True)


class WindowsSerializer(serializers.Serializer):
    windows = WindowSerializer(many=True, max_length=500)


class CountsSerializer(serializers.Serializer):
    received = serializers.IntegerField(required=False)
    stored = serializers.IntegerField()
    duplicates = serializers.IntegerField()


class LogDigestSerializer(serializers.Serializer):
    deployment = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    name = serializers.RegexField(r"^[A-Za-z0-9._-]{1,200}$", max_length=200)
    sha256 = serializers.RegexField(r"^[0-9a-f]{64}$", **SHA256)
    records = serializers.IntegerField(min_value=0, max_value=MAX_ID)
    first_at = serializers.DateTimeField()
    last_at = serializers.DateTimeField()


class LogDigestOutSerializer(serializers.Serializer):
    deployment = serializers.IntegerField(source="deployment_id")
    host = serializers.CharField(source="host.name", help_text="The host that wrote and reported the file.")
    name = serializers.CharField(help_text="The file's name in the host's `log/<deployment>/` folder.")
    sha256 = serializers.CharField(help_text="The sha256 of the file as the host wrote it.")
    records = serializers.IntegerField()
    first_at = serializers.DateTimeField()
    last_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField()


class LogDigestsSerializer(serializers.Serializer):
    digests = LogDigestSerializer(many=True, max_length=500)


class ReleaseFileSerializer(serializers.Serializer):
    name = serializers.CharField()
    sha256 = serializers.CharField()
    url = serializers.CharField()


class ServedReleaseSerializer(serializers.Serializer):
    release = serializers.IntegerField()
    role = serializers.CharField()
    version = serializers.IntegerField()
    artifact_sha256 = serializers.CharField()
    manifest_sha256 = serializers.CharField()
    signature_sha256 = serializers.CharField()
    key_id = serializers.CharField()
    files = ReleaseFileSerializer(many=True)
    signature_url = serializers.CharField()
    approved_until = serializers.DateTimeField()


class WithdrawnSerializer(serializers.Serializer):
    role = serializers.CharField()
    version = serializers.IntegerField()
    reason = serializers.CharField(help_text="`version_revoked`, `approval_expired`, `version_not_approved`, ...")


class DesiredDeploymentSerializer(serializers.Serializer):
    deployment = serializers.IntegerField()
    passport = serializers.CharField()
    environment = serializers.CharField()
    generation = serializers.IntegerField()
    strategy = serializers.CharField()
    canary_percent = serializers.IntegerField()
    releases = ServedReleaseSerializer(many=True)
    withdrawn = WithdrawnSerializer(many=True)
    stop_limit_hosts = serializers.IntegerField(
        help_text="How many hosts serve the deployment and split the release's daily stop-limit between them.")
    stop_limit_index = serializers.IntegerField(
        help_text="This host's place among them (0-based): its share is the limit divided by `stop_limit_hosts`, "
                  "one more for each of the first `limit % stop_limit_hosts` places.")


class DesiredStateSerializer(serializers.Serializer):
    host = serializers.CharField()
    poll_seconds = serializers.FloatField()
    key_id = serializers.CharField()
    etag = serializers.CharField()
    public_key_pem = serializers.CharField()
    deployments = DesiredDeploymentSerializer(many=True)


class AlertSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    subject = serializers.CharField()
    version = serializers.IntegerField(source="version.number", allow_null=True)
    host = serializers.CharField(source="host.name", allow_null=True)
    value = serializers.FloatField(allow_null=True)
    threshold = serializers.FloatField(allow_null=True)
    message = serializers.CharField()
    raised_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()
    count = serializers.IntegerField()


class TimelineEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    kind = serializers.CharField()
    actor = serializers.CharField()
    text = serializers.CharField()
    data = serializers.JSONField()


class IncidentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    status = serializers.CharField()
    passport = serializers.CharField(source="passport.key", allow_null=True)
    deployment = serializers.IntegerField(source="deployment_id", allow_null=True)
    host = serializers.CharField(source="host.name", allow_null=True)
    opened_at = serializers.DateTimeField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    acknowledged_by = serializers.CharField(source="acknowledged_by.username", allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    resolved_by = serializers.CharField(source="resolved_by.username", allow_null=True)
    resolution = serializers.CharField()


class IncidentDetailSerializer(IncidentSerializer):
    alerts = AlertSerializer(many=True)
    timeline = TimelineEntrySerializer(many=True)


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class ResolutionSerializer(serializers.Serializer):
    resolution = serializers.CharField(max_length=5000)


class ServingPolicySerializer(serializers.Serializer):
    passport = serializers.CharField()
    on_alert = serializers.CharField(help_text="`notify`, `rollback` or `stop`.")
    default = serializers.BooleanField(help_text="True while the tier's default applies (no policy set).")


class ServingPolicySetSerializer(serializers.Serializer):
    on_alert = serializers.ChoiceField(choices=PolicyAction.choices)


class KServeQuerySerializer(serializers.Serializer):
    namespace = serializers.RegexField(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", required=False, allow_blank=True,
                                       error_messages={"invalid": "A Kubernetes namespace: lower-case letters, "
                                                       "digits and '-', at most 63 characters."})


class KServeRenderSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The InferenceService's name (a DNS-1035 label).")
    model_name = serializers.CharField(help_text="The Triton model name clients put in `/v2/models/{name}/infer`.")
    storage_uri = serializers.CharField(help_text="Where the cluster downloads the signed bundle.")
    objects = serializers.ListField(child=serializers.JSONField(),
                                    help_text="ConfigMap, ModelValidation and InferenceService, in apply order.")
    yaml = serializers.CharField(help_text="The same objects as one YAML stream for `kubectl apply -f -`.")
