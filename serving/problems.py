"""What a host reports wrong in its heartbeat, said in the reader's language.

An agent sends each problem with its English ``message`` and, beside it, the values it is made of (``args``): the
control plane says it again from those, through the catalogue, so the alert, its e-mail and the serving overview read
in English or Russian alike. A problem whose values do not fit its sentence (an older agent, a kind this release does
not know) is said as the host wrote it.
"""

from __future__ import annotations

from django.utils.translation import gettext_noop

from core.text import said, say

_REFUSED = {
    "digest_mismatch": gettext_noop("%(host)s refused release %(release)s (v%(version)s): its artifact is not the "
                                    "approved one (%(detail)s)."),
    "signature_invalid": gettext_noop("%(host)s refused release %(release)s (v%(version)s): its signature does not "
                                      "verify (%(detail)s)."),
    "manifest_invalid": gettext_noop("%(host)s refused release %(release)s (v%(version)s): its manifest is not valid "
                                     "(%(detail)s)."),
    "release_expired": gettext_noop("%(host)s refused release %(release)s (v%(version)s): its approval has "
                                    "expired."),
    "download_failed": gettext_noop("%(host)s could not download release %(release)s (v%(version)s): %(detail)s."),
    "load_failed": gettext_noop("%(host)s could not load release %(release)s (v%(version)s) into ONNX Runtime: "
                                "%(detail)s."),
}
_KEY_CHANGED = gettext_noop("%(host)s serves nothing: the desired state names signing key %(key_id)s, not the "
                            "enrolled %(enrolled)s.")
_OTHERS = {
    "stop_limit_reached": gettext_noop("%(host)s: %(model)s reached its stop-limit of %(limit)s decisions on %(day)s "
                                       "(UTC) and refuses more until midnight UTC."),
    "log_disk_low": gettext_noop("%(host)s: %(free_mb)s MB free for the prediction log in %(path)s, under the floor "
                                 "of %(floor_mb)s MB."),
    "log_unavailable": gettext_noop("%(host)s: the prediction log cannot be written (%(error)s); %(refused)s "
                                    "predictions refused so far."),
}
_SHARE_SPENT = gettext_noop("%(host)s: %(model)s reached this host's share of its stop-limit on %(day)s (UTC), "
                            "%(allowed)s of %(limit)s decisions split over %(hosts)s hosts, and refuses more on this "
                            "host until midnight UTC.")
_FALLBACK = gettext_noop("%(host)s: %(message)s")


def _sentence(problem: dict) -> str | None:
    kind = problem.get("kind")
    if kind in _REFUSED and problem.get("release"):
        return _REFUSED[kind]
    if kind == "signature_invalid":
        return _KEY_CHANGED
    if kind == "stop_limit_reached" and "hosts" in (problem.get("args") or {}):
        return _SHARE_SPENT
    return _OTHERS.get(kind)


def problem_said(host_name: str, problem: dict) -> tuple[str, dict]:
    """The problem as a sentence of the catalogue (:func:`core.text.said`): the English to store, and the record
    that says it in the reader's language."""
    args = problem.get("args") if isinstance(problem.get("args"), dict) else {}
    values = {**{key: value for key, value in args.items() if key not in ("host", "release")},
              "host": host_name, "release": problem.get("release") or ""}
    sentence = _sentence(problem)
    if sentence is not None:
        try:
            return said(sentence, **values)
        except (KeyError, TypeError, ValueError):
            pass
    return said(_FALLBACK, host=host_name, message=str(problem.get("message") or problem.get("kind") or ""))


def problem_lines(host_name: str, problems: list) -> list[str]:
    """The problems of a host's last heartbeat in the active language, for pages."""
    lines = []
    for problem in problems if isinstance(problems, list) else []:
        if isinstance(problem, dict):
            english, record = problem_said(host_name, problem)
            lines.append(say(record, english))
    return lines
