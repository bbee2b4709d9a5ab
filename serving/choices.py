"""Serving choices: deployment strategies and environments, host health, the roles of a served version."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Strategy(models.TextChoices):
    FULL = "full", _("Full: the champion answers every request")
    CANARY = "canary", _("Canary: a share of requests goes to the challenger")
    SHADOW = "shadow", _("Shadow: the challenger gets a copy of each request, never answers")


# A challenger runs beside the champion as one of these.
CHALLENGER_STRATEGIES = [(Strategy.CANARY.value, Strategy.CANARY.label), (Strategy.SHADOW.value, Strategy.SHADOW.label)]


class Environment(models.TextChoices):
    PRODUCTION = "production", _("Production")
    STAGING = "staging", _("Staging")


class DeploymentStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    STOPPED = "stopped", _("Stopped")


class HostHealth(models.TextChoices):
    PENDING = "pending", _("Waiting for the first heartbeat")
    HEALTHY = "healthy", _("Healthy")
    DEGRADED = "degraded", _("Degraded")
    LOST = "lost", _("Lost")
    REVOKED = "revoked", _("Revoked")


class ServedRole(models.TextChoices):
    CHAMPION = "champion", _("Champion")
    CHALLENGER = "challenger", _("Challenger")


class AlertKind(models.TextChoices):
    FEATURE_PSI = "feature_psi", _("Feature drift (PSI)")
    SCORE_PSI = "score_psi", _("Score drift (PSI)")
    LATENCY = "latency", _("Latency over the SLO")
    ERROR_RATE = "error_rate", _("Error rate")
    STOP_LIMIT = "stop_limit", _("Stop-limit reached")
    HOST_LOST = "host_lost", _("Host lost")
    DIGEST_MISMATCH = "digest_mismatch", _("Release refused: digest or signature")
    LOAD_FAILED = "load_failed", _("Release failed to load")
    LOG_ALTERED = "log_altered", _("Prediction log file changed after its report")
    LOG_UNAVAILABLE = "log_unavailable", _("Prediction log cannot be written")
    LOG_DISK_LOW = "log_disk_low", _("Prediction log disk nearly full")
    INPUT_REFUSED = "input_refused", _("Requests refused as invalid input")


# Error kinds of a window that say nothing of the served version, so the error-rate alert (which may roll it back
# or stop it) and the error rate the pages show leave them out, of the count and of the requests it is divided by:
# the host's own (its disk would not take the log: an alert from the heartbeat), a spent stop-limit (the limit
# working, alerted from the heartbeat), and requests refused as invalid (the senders': alerted on their own,
# notify only). Otherwise any client could roll a passport back, or stop it, by sending bad requests, and a
# stop-limit would do so once reached.
HOST_ERRORS = ("log_unavailable",)
LIMIT_ERRORS = ("stop_limit_reached",)
INPUT_ERRORS = ("invalid_request", "explain_unavailable")
NOT_THE_VERSIONS = HOST_ERRORS + LIMIT_ERRORS + INPUT_ERRORS

# The error kinds a host counts in its windows, as the charts name them (any other is shown as its code).
ERROR_KINDS = {
    "invalid_request": _("Invalid input"),
    "explain_unavailable": _("Explanation not available"),
    "stop_limit_reached": _("Stop-limit reached"),
    "log_unavailable": _("Prediction log not writable"),
    "inference_failed": _("Inference failed"),
    "internal_error": _("Agent fault"),
}


# What a monitoring alert of these kinds may do under the passport's policy; the others only notify (the host
# refuses a tampered release or a spent stop-limit by itself, a lost host's replicas keep serving, and requests
# refused as invalid are the senders' to mend: another version would refuse them too).
POLICY_KINDS = frozenset({AlertKind.FEATURE_PSI, AlertKind.SCORE_PSI, AlertKind.LATENCY, AlertKind.ERROR_RATE})


class PolicyAction(models.TextChoices):
    NOTIFY = "notify", _("Notify only")
    ROLLBACK = "rollback", _("Roll back to the previous approved version")
    STOP = "stop", _("Stop serving")


class IncidentStatus(models.TextChoices):
    OPEN = "open", _("Open")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    RESOLVED = "resolved", _("Resolved")


class TimelineKind(models.TextChoices):
    ALERT = "alert", _("Alert")
    NOTIFICATION = "notification", _("Notification")
    ACTION = "action", _("Action")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    RESOLVED = "resolved", _("Resolved")
