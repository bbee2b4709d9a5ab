"""Who may deploy and operate a passport's versions, and who manages serving hosts.

Deploying (create, set a challenger, promote) is for the passport's technical owner and development team, and for
engineers who operate serving for every passport they may see (``serving.operate_deployment``). Rolling back and
stopping are also open to risk officers (``governance.revoke_approval``): they are the brakes of an incident.
Hosts are managed by administrators. (guardian refuses object checks across apps, so role permissions are asked
without an object, plus visibility of the passport, as in the workflow.)
"""

from __future__ import annotations

from registry import permissions as registry_perms

DEPLOY = "serving.operate_deployment"
VIEW_HOSTS = "serving.view_host"
MANAGE_HOSTS = "serving.manage_hosts"
REVOKE = "governance.revoke_approval"


def _active(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def can_deploy(user, passport) -> bool:
    if not _active(user):
        return False
    if user.pk == passport.technical_owner_id or registry_perms.in_team(user, passport):
        return True
    return user.has_perm(DEPLOY) and user.has_perm(registry_perms.VIEW, passport)


def can_brake(user, passport) -> bool:
    if not _active(user):
        return False
    return can_deploy(user, passport) or (user.has_perm(REVOKE) and user.has_perm(registry_perms.VIEW, passport))
