"""Serving, control plane: enrolled hosts, deployments of approved versions, signed releases, and what the hosts
report back (monitoring windows, prediction-log digests).

Secrets (enrolment tokens, host tokens) are stored as sha256 only; the secret is shown once when it is made.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.text import say
from serving.choices import (
    AlertKind,
    DeploymentStatus,
    Environment,
    HostHealth,
    IncidentStatus,
    PolicyAction,
    Strategy,
    TimelineKind,
)


class EnrolmentToken(models.Model):
    """A one-time token an administrator creates for one host to enrol with; expires, used at most once."""

    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    used_at = models.DateTimeField(_("used"), null=True, blank=True)
    host = models.OneToOneField("Host", on_delete=models.PROTECT, null=True, blank=True, related_name="enrolment")
    # The hash of the enrolling agent's own request id: the same agent asking again, its first answer lost in
    # transit, gets a fresh host token instead of a refusal (serving.services.host_enrol).
    request_hash = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("enrolment token")
        verbose_name_plural = _("enrolment tokens")
        permissions = [("manage_hosts", "Enrol, change and revoke serving hosts")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_usable(self) -> bool:
        return self.used_at is None and self.expires_at > timezone.now()


class Host(models.Model):
    """A serving host running the agent; authenticates with its own token (``mgh_<prefix>_<secret>``)."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    labels = models.JSONField(_("labels"), default=dict, blank=True)
    gpu_model = models.CharField(_("GPU model"), max_length=200, blank=True)
    gpu_memory_mb = models.PositiveIntegerField(_("GPU memory (MiB)"), null=True, blank=True)
    provider = models.CharField(_("execution provider"), max_length=100, blank=True)
    agent_version = models.CharField(_("agent version"), max_length=50, blank=True)
    cost_per_hour = models.DecimalField(_("cost per hour"), max_digits=12, decimal_places=4, default=0)
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    token_prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64)
    token_rotated_at = models.DateTimeField(_("token rotated"), default=timezone.now)
    enrolled_at = models.DateTimeField(_("enrolled"), default=timezone.now)
    last_heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    status = models.JSONField(_("reported status"), default=dict, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_reason = models.TextField(_("revocation reason"), blank=True)
    lost_alerted_at = models.DateTimeField(null=True, blank=True)  # the silence an alert was raised for

    class Meta:
        ordering = ["name"]
        verbose_name = _("serving host")
        verbose_name_plural = _("serving hosts")

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def health(self, now=None) -> str:
        """Revoked, pending (never heard from), lost (silent past ``MG_HOST_LOST_SECONDS``), degraded (the agent
        says something is wrong) or healthy."""
        if self.revoked_at is not None:
            return HostHealth.REVOKED
        if self.last_heartbeat_at is None:
            return HostHealth.PENDING
        now = now or timezone.now()
        if now - self.last_heartbeat_at > timedelta(seconds=settings.MG_HOST_LOST_SECONDS):
            return HostHealth.LOST
        return HostHealth.DEGRADED if (self.status or {}).get("problems") else HostHealth.HEALTHY

    def get_health_display(self) -> str:
        return str(HostHealth(self.health()).label)


class Deployment(models.Model):
    """A passport's version served on a set of hosts; with a challenger beside it under canary or shadow.

    ``generation`` grows with every change, so a host sees that its desired state moved. At most one active
    deployment per passport and environment.
    """

    passport = models.ForeignKey("registry.ModelPassport", on_delete=models.PROTECT, related_name="deployments")
    environment = models.CharField(_("environment"), max_length=20, choices=Environment.choices,
                                   default=Environment.PRODUCTION)
    version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="deployments",
                                verbose_name=_("champion"))
    challenger = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="challenger_deployments", verbose_name=_("challenger"))
    strategy = models.CharField(_("strategy"), max_length=10, choices=Strategy.choices, default=Strategy.FULL)
    canary_percent = models.PositiveSmallIntegerField(_("canary share (%)"), default=0)
    hosts = models.ManyToManyField(Host, related_name="deployments", verbose_name=_("hosts"))
    personal_data_columns = models.JSONField(_("personal-data columns masked in logs"), default=list, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=DeploymentStatus.choices,
                              default=DeploymentStatus.ACTIVE, db_index=True)
    generation = models.PositiveIntegerField(_("generation"), default=1)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    stopped_at = models.DateTimeField(_("stopped"), null=True, blank=True)
    stop_reason = models.TextField(_("stop reason"), blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("deployment")
        verbose_name_plural = _("deployments")
        permissions = [("operate_deployment", "Deploy, promote, roll back and stop any passport's versions")]
        constraints = [
            models.UniqueConstraint(fields=["passport", "environment"], condition=models.Q(status="active"),
                                    name="one_active_deployment_per_environment"),
            models.CheckConstraint(condition=models.Q(canary_percent__lte=100), name="canary_percent_at_most_100"),
        ]

    def __str__(self) -> str:
        return f"{self.passport.key} {self.get_environment_display()} #{self.pk}"

    def strategy_name(self) -> str:
        """The strategy in one word, for tables and headings."""
        return str({Strategy.FULL: _("full"), Strategy.CANARY: _("canary"), Strategy.SHADOW: _("shadow")}[
            self.strategy])


class DeploymentRevision(models.Model):
    """Each champion a deployment has served, in order: rollback returns to the latest earlier one still approved."""

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="revisions")
    version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(default=timezone.now)
    reason = models.CharField(max_length=20)  # created, promoted, rolled_back

    class Meta:
        ordering = ["deployment", "pk"]

    def __str__(self) -> str:
        return f"deployment {self.deployment_id}: {self.version} ({self.reason})"


class Release(models.Model):
    """The signed release of one version: ``model.onnx`` and ``manifest.json`` in a folder, signature beside it."""

    version = models.OneToOneField("registry.ModelVersion", on_delete=models.PROTECT, related_name="release")
    folder = models.CharField(max_length=300)  # relative to MEDIA_ROOT
    manifest = models.JSONField(_("manifest"))
    manifest_sha256 = models.CharField(max_length=64)
    artifact_sha256 = models.CharField(max_length=64)
    signature_sha256 = models.CharField(max_length=64)
    key_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(_("signed"), default=timezone.now)

    class Meta:
        verbose_name = _("release")
        verbose_name_plural = _("releases")

    def __str__(self) -> str:
        return f"release of {self.version}"


class MonitoringWindow(models.Model):
    """One host's monitoring of one deployment over one window; stored once per (host, deployment, sequence)."""

    host = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="windows")
    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="windows")
    passport = models.ForeignKey("registry.ModelPassport", on_delete=models.PROTECT, related_name="+")
    version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=10, default="champion")
    sequence = models.PositiveBigIntegerField()
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    requests = models.PositiveIntegerField(default=0)
    predictions = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=dict)  # error kind -> count
    error_count = models.PositiveIntegerField(default=0)
    latency_p50_ms = models.FloatField(null=True)
    latency_p95_ms = models.FloatField(null=True)
    latency_p99_ms = models.FloatField(null=True)
    psi = models.JSONField(default=dict)  # feature -> PSI
    max_feature_psi = models.FloatField(null=True)
    score_psi = models.FloatField(null=True)
    shadow_disagreement = models.FloatField(null=True)  # share of shadow answers that differ from the champion's
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["started_at"]
        constraints = [models.UniqueConstraint(fields=["host", "deployment", "sequence"], name="one_window_per_seq")]
        indexes = [models.Index(fields=["passport", "started_at"]), models.Index(fields=["deployment", "started_at"])]

    def __str__(self) -> str:
        return f"window {self.sequence} of deployment {self.deployment_id} on host {self.host_id}"


class MonitoringHour(models.Model):
    """One host's windows of one deployment within one hour, summed as they arrive: the monitoring tab reads these
    for ranges beyond a day (720 rows a host for 30 days instead of 43,200 windows)."""

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="+")
    host = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="+")
    passport = models.ForeignKey("registry.ModelPassport", on_delete=models.PROTECT, related_name="+")
    hour = models.DateTimeField()
    windows = models.PositiveIntegerField(default=0)
    requests = models.PositiveBigIntegerField(default=0)
    predictions = models.PositiveBigIntegerField(default=0)
    error_count = models.PositiveBigIntegerField(default=0)
    errors = models.JSONField(default=dict)  # kind -> count
    p50_total = models.FloatField(default=0.0)  # sum of the windows' p50, for the mean
    p50_count = models.PositiveIntegerField(default=0)
    p95_max = models.FloatField(null=True)
    p99_max = models.FloatField(null=True)
    psi = models.JSONField(default=dict)  # feature -> worst PSI of the hour
    max_feature_psi = models.FloatField(null=True)
    score_psi = models.FloatField(null=True)

    class Meta:
        ordering = ["hour"]
        constraints = [models.UniqueConstraint(fields=["deployment", "host", "hour"], name="one_rollup_per_hour")]
        indexes = [models.Index(fields=["passport", "hour"]), models.Index(fields=["deployment", "hour"])]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00 of deployment {self.deployment_id} on host {self.host_id}"


class PredictionLogDigest(models.Model):
    """The sha256 of one rotated prediction-log file a host wrote: proves later that the log was not altered."""

    host = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="log_digests")
    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="log_digests")
    name = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    records = models.PositiveBigIntegerField()
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["first_at"]
        constraints = [models.UniqueConstraint(fields=["host", "name"], name="one_digest_per_log_file")]

    def __str__(self) -> str:
        return f"{self.name} ({self.sha256[:12]}…)"


class ServingPolicy(models.Model):
    """What a monitoring alert does for one passport: notify, roll back, or stop. Without a row, the tier's
    default (``serving.alerts.DEFAULT_ACTION``)."""

    passport = models.OneToOneField("registry.ModelPassport", on_delete=models.PROTECT, related_name="serving_policy")
    on_alert = models.CharField(_("on alert"), max_length=10, choices=PolicyAction.choices)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("serving policy")
        verbose_name_plural = _("serving policies")

    def __str__(self) -> str:
        return f"{self.passport.key}: {self.on_alert}"


class Incident(models.Model):
    """Alerts about one deployment (or one host) while it is open, with a timeline of what happened."""

    passport = models.ForeignKey("registry.ModelPassport", on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="incidents")
    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="incidents")
    host = models.ForeignKey(Host, on_delete=models.PROTECT, null=True, blank=True, related_name="incidents")
    title = models.CharField(_("title"), max_length=300)
    kind = models.CharField(_("kind"), max_length=20, choices=AlertKind.choices, blank=True)  # of its first alert
    status = models.CharField(_("status"), max_length=15, choices=IncidentStatus.choices,
                              default=IncidentStatus.OPEN, db_index=True)
    opened_at = models.DateTimeField(_("opened"), default=timezone.now)
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                        related_name="+")
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+")
    resolution = models.TextField(_("resolution"), blank=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")

    def __str__(self) -> str:
        return f"INC-{self.pk}: {self.title}"

    def headline(self) -> str:
        """The title in the reader's language: what it is about, and the kind of its first alert."""
        about = self.passport.key if self.passport_id else (self.host.name if self.host_id else "")
        return f"{about}: {self.get_kind_display()}" if self.kind else self.title


class Alert(models.Model):
    """One condition seen by monitoring or reported by a host; repeated sightings while its incident is open
    count on the same row."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="alerts")
    kind = models.CharField(_("kind"), max_length=20, choices=AlertKind.choices)
    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    host = models.ForeignKey(Host, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="+")
    subject = models.CharField(_("subject"), max_length=200, blank=True)  # the feature, the release...
    value = models.FloatField(_("value"), null=True, blank=True)
    threshold = models.FloatField(_("threshold"), null=True, blank=True)
    message = models.TextField(_("message"))  # in English; ``said`` keeps it to be said in the reader's language
    said = models.JSONField(default=dict, blank=True)
    raised_at = models.DateTimeField(_("raised"), default=timezone.now)
    last_seen_at = models.DateTimeField(_("last seen"), default=timezone.now)
    count = models.PositiveIntegerField(_("times seen"), default=1)

    class Meta:
        ordering = ["raised_at", "pk"]
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.message[:80]}"

    @property
    def display_message(self) -> str:
        return say(self.said, self.message)


class TimelineEntry(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="timeline")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=15, choices=TimelineKind.choices)
    actor = models.CharField(max_length=200)
    text = models.TextField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.at:%Y-%m-%d %H:%M:%S}: {self.text[:80]}"

    @property
    def display_actor(self) -> str:
        """A person by their user name; the platform's own actors in the reader's language."""
        from governance.audit.describe import system_actor_label

        return system_actor_label(self.actor)

    @property
    def display_text(self) -> str:
        """The entry in the reader's language where the platform wrote it (``data["said"]``); people's notes as
        they wrote them."""
        return say(self.data.get("said") if isinstance(self.data, dict) else None, self.text)


class UsageBooking(models.Model):
    """One day of one passport's inference cost, booked into its ledger (at most once per day and currency)."""

    passport = models.ForeignKey("registry.ModelPassport", on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    currency = models.CharField(max_length=3)
    entry = models.OneToOneField("governance.LedgerEntry", on_delete=models.PROTECT, related_name="+")
    predictions = models.PositiveBigIntegerField()
    host_hours = models.DecimalField(max_digits=14, decimal_places=4)
    booked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["passport", "day", "currency"], name="one_usage_booking")]

    def __str__(self) -> str:
        return f"{self.passport_id} {self.day} {self.currency}"
