"""What the audit events about people, access and API tokens say, and how people, teams and tokens are named."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from governance.accounts.choices import Role, TokenScope
from governance.accounts.models import ApiToken, Team, User
from governance.audit.describe import ObjectRef, action_text, ids_of, object_refs, value_labels

action_text("user.roles_granted", gettext_lazy("Roles granted"),
            gettext_lazy("{actor} gave {object} the roles: {roles}."))
action_text("user.roles_revoked", gettext_lazy("Roles taken away"),
            gettext_lazy("{actor} took the roles {roles} from {object}."))
action_text("user.permissions_granted", gettext_lazy("Permissions granted"),
            gettext_lazy("{actor} gave {object} the permissions: {permissions}."))
action_text("user.permissions_revoked", gettext_lazy("Permissions taken away"),
            gettext_lazy("{actor} took the permissions {permissions} from {object}."))
action_text("user.flags_changed", gettext_lazy("Account status changed"),
            gettext_lazy("{actor} changed the account status of {object}."))
action_text("user.login_locked_out", gettext_lazy("Sign-in locked"),
            gettext_lazy("Sign-in as {object} was locked after repeated wrong passwords."))
action_text("object_permission.granted", gettext_lazy("Object permission granted"),
            gettext_lazy("{actor} gave {object} the permission {permission} on {object_type} #{object_id}."))
action_text("object_permission.revoked", gettext_lazy("Object permission taken away"),
            gettext_lazy("{actor} took the permission {permission} on {object_type} #{object_id} from {object}."))
action_text("team.members_added", gettext_lazy("Team members added"),
            gettext_lazy("{actor} added {members} to the team {object}."))
action_text("team.members_removed", gettext_lazy("Team members removed"),
            gettext_lazy("{actor} removed {members} from the team {object}."))
action_text("token.created", gettext_lazy("API token created"),
            gettext_lazy("{actor} created the API token {object} for {user} (scopes: {scopes})."))
action_text("token.revoked", gettext_lazy("API token revoked"),
            gettext_lazy("{actor} revoked the API token {object} of {user}."))


@object_refs.provide
def account_refs(events) -> dict:
    refs = {}
    for user in User.objects.filter(pk__in=ids_of(events, "governance.user")):
        refs["governance.user", str(user.pk)] = ObjectRef(label=f"{user} ({user.get_username()})")
    for team in Team.objects.filter(pk__in=ids_of(events, "governance.team")):
        refs["governance.team", str(team.pk)] = ObjectRef(label=team.name)
    for token in ApiToken.objects.filter(pk__in=ids_of(events, "governance.apitoken")):
        refs["governance.apitoken", str(token.pk)] = ObjectRef(label=str(token))
    return refs


@value_labels.provide
def account_values() -> dict:
    return {"roles": dict(Role.choices), "scopes": dict(TokenScope.choices),
            "object_type": {"businessunit": _("business unit")}}
