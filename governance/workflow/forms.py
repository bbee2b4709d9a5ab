"""UI forms of the approval workflow. Each shapes the input of one service call; none writes.

Several of them share one page (the version page), so each is built with its own ``prefix``.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.forms import BootstrapFormMixin, ConditionFormSet, DateInput, condition_list
from governance.accounts.choices import Role
from governance.workflow.choices import (
    FINDING_TRANSITIONS,
    ChecklistStatus,
    Decision,
    FindingSeverity,
    FindingStatus,
    SignoffRole,
)
from validation.forms import RatedReportMixin, rating_field

MAX_LINKS = 20


def _active_users():
    return get_user_model().objects.filter(is_active=True).order_by("username")


class AssignValidatorForm(BootstrapFormMixin, forms.Form):
    """Input of ``validator_assign``: active validators, minus the author, the team and those already assigned."""

    validator = forms.ModelChoiceField(label=_("Validator"), queryset=get_user_model().objects.none())

    def __init__(self, *args, version, **kwargs):
        super().__init__(*args, **kwargs)
        passport = version.passport
        self.fields["validator"].queryset = (
            _active_users().filter(groups__name=Role.VALIDATOR)
            .exclude(pk=version.author_id)
            .exclude(teams=passport.development_team_id)
            .exclude(assignments__version=version)
            .distinct()
        )


class ReportIssueForm(RatedReportMixin, BootstrapFormMixin, forms.Form):
    """Input of ``validation.services.report_issue_uploaded``."""

    file = forms.FileField(label=_("Report file"),
                           help_text=_("PDF, HTML, Markdown, text, Word, Excel or ZIP; at most 100 MB."))
    conclusion = forms.CharField(label=_("Conclusion"), max_length=20000,
                                 widget=forms.Textarea(attrs={"rows": 3}))
    rating = rating_field()

    def __init__(self, data=None, *args, **kwargs):
        super().__init__(data, *args, **kwargs)
        self._init_conditions(data, f"{self.prefix or 'report'}-cond")


class FindingRaiseForm(BootstrapFormMixin, forms.Form):
    """Input of ``finding_raise``. Owners are the people who can see the passport: its owners, its team and
    the reviewers."""

    title = forms.CharField(label=_("Title"), max_length=200)
    description = forms.CharField(label=_("Description"), required=False, max_length=20000,
                                  widget=forms.Textarea(attrs={"rows": 3}))
    severity = forms.ChoiceField(label=_("Severity"), choices=FindingSeverity.choices, initial=FindingSeverity.MEDIUM,
                                 help_text=_("An open high finding blocks approval."))
    owner = forms.ModelChoiceField(label=_("Owner"), queryset=get_user_model().objects.none())
    due_date = forms.DateField(label=_("Due date"), widget=DateInput())
    run = forms.IntegerField(required=False, widget=forms.HiddenInput)
    test = forms.CharField(required=False, max_length=60, widget=forms.HiddenInput)

    def __init__(self, *args, version, **kwargs):
        super().__init__(*args, **kwargs)
        passport = version.passport
        self.fields["owner"].queryset = _active_users().filter(
            Q(pk__in=[passport.business_owner_id, passport.technical_owner_id, version.author_id])
            | Q(teams=passport.development_team_id)
            | Q(groups__name__in=[Role.VALIDATOR, Role.RISK_OFFICER, Role.SECURITY])
        ).distinct()
        self.fields["owner"].initial = passport.technical_owner_id


class FindingStatusForm(BootstrapFormMixin, forms.Form):
    """Input of ``finding_set_status``: the moves the finding's status allows, and a note."""

    status = forms.ChoiceField(label=_("New status"), choices=())
    note = forms.CharField(label=_("Note"), required=False, max_length=5000,
                           widget=forms.Textarea(attrs={"rows": 2}),
                           help_text=_("Required when accepting a risk: say why."))

    def __init__(self, *args, finding, allowed=None, **kwargs):
        super().__init__(*args, **kwargs)
        moves = FINDING_TRANSITIONS.get(finding.status, frozenset())
        if allowed is not None:
            moves = moves & set(allowed)
        labels = {FindingStatus.REMEDIATED: _("Remediated"), FindingStatus.RISK_ACCEPTED: _("Risk accepted"),
                  FindingStatus.OPEN: _("Reopen")}
        self.fields["status"].choices = [(s, labels[s]) for s in FindingStatus.values if s in moves]


class LinksField(forms.CharField):
    """One http(s) URL a line; cleaned to a list (the service checks each URL)."""

    widget = forms.Textarea

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", MAX_LINKS * 510)
        super().__init__(**kwargs)
        self.widget.attrs.update({"rows": 2, "spellcheck": "false", "placeholder": "https://…"})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def clean(self, value):
        text = super().clean(value)
        links = [line.strip() for line in (text or "").splitlines() if line.strip()]
        if len(links) > MAX_LINKS:
            raise forms.ValidationError(_("At most %(n)s links.") % {"n": MAX_LINKS})
        return links


class ChecklistAnswerForm(BootstrapFormMixin, forms.Form):
    """Input of ``checklist_answer`` for one OWASP item (prefix: the item's code)."""

    # No status is preselected: an answer is a decision the reviewer makes, not a default they forget to change.
    status = forms.ChoiceField(label=_("Status"), choices=[("", _("Choose…"))] + [
        (value, label) for value, label in ChecklistStatus.choices if value != ChecklistStatus.UNANSWERED])
    evidence = forms.CharField(label=_("Evidence"), required=False, max_length=20000,
                               widget=forms.Textarea(attrs={"rows": 2}),
                               help_text=_("Required, as text, a link or an attachment, for every status but “open”."))
    links = LinksField(label=_("Links (one per line)"))
    attachment = forms.FileField(label=_("Attachment"), required=False)

    @classmethod
    def for_item(cls, item, data=None, files=None):
        initial = None
        if data is None and item.status != ChecklistStatus.UNANSWERED:
            initial = {"status": item.status, "evidence": item.evidence, "links": item.links}
        return cls(data, files, prefix=item.code.lower(), initial=initial)


class ReasonForm(BootstrapFormMixin, forms.Form):
    """Input of ``version_reject``, ``version_revoke`` and ``version_retire``."""

    reason = forms.CharField(label=_("Reason"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, required: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = required


class SignoffForm(BootstrapFormMixin, forms.Form):
    """Input of ``signoff_record``: a role the user may sign in, the decision, conditions and the password
    that re-authenticates the signer (the service checks it)."""

    role = forms.ChoiceField(label=_("Sign as"), choices=())
    decision = forms.ChoiceField(label=_("Decision"), choices=Decision.choices,
                                 widget=forms.RadioSelect)
    comment = forms.CharField(label=_("Comment"), required=False, max_length=5000,
                              widget=forms.Textarea(attrs={"rows": 2}),
                              help_text=_("A rejection sends this comment to the author as the reason."))
    password = forms.CharField(
        label=_("Your password"), strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text=_("Re-enter your password to sign electronically."),
    )
    acknowledge_pending = forms.BooleanField(
        label=_("I sign although these are not final; I will be told if my sign-off stops counting."),
        required=False)

    def __init__(self, data=None, *, roles, reject_only: bool = False, **kwargs):
        kwargs.setdefault("prefix", "sign")
        super().__init__(data, **kwargs)
        self.fields["role"].choices = [(r, SignoffRole(r).label if r in SignoffRole.values else r) for r in roles]
        if len(roles) == 1:
            self.fields["role"].initial = roles[0]
        if reject_only:
            self.fields["decision"].choices = [(Decision.REJECT, Decision.REJECT.label)]
            self.fields["decision"].initial = Decision.REJECT
        else:
            self.fields["decision"].initial = Decision.APPROVE
        self.conditions = ConditionFormSet(data, prefix=f"{self.prefix}-cond")

    def is_valid(self) -> bool:
        valid = super().is_valid()
        if self.cleaned_data.get("decision") != Decision.APPROVE_WITH_CONDITIONS:
            return valid  # conditions are only read for an approval with conditions
        return self.conditions.is_valid() and valid

    def condition_list(self) -> list[dict]:
        if self.cleaned_data.get("decision") != Decision.APPROVE_WITH_CONDITIONS:
            return []
        return condition_list(self.conditions)


class TestAcceptForm(BootstrapFormMixin, forms.Form):
    """Input of ``test_accept``: which failed or excepted test, and why its risk is acceptable."""

    __test__ = False  # not a pytest test class, whatever its name

    test = forms.CharField(max_length=40)
    rationale = forms.CharField(label=_("Why the risk is acceptable"), max_length=5000,
                                widget=forms.Textarea(attrs={"rows": 2}))
