"""Demo data for a fresh install: one account per role, business units, teams and four documented passports.

Each passport gets its reference and holdout datasets (CSV), a version trained by ``governance.demo.onnx_models``
with its feature schema refined to the model's valid ranges, and credit scoring also a challenger version
with the ``challenger`` alias. Registry rows are written only through ``registry.services`` with the
developer as actor, so the audit chain records every step. Accounts, business units and teams have no
services (they are administration data) and are created directly; they are not audited.

``seed_demo`` is idempotent: when every demo passport exists it changes nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.db import transaction
from guardian.shortcuts import assign_perm

from governance.accounts.choices import Role
from governance.accounts.models import BusinessUnit, Team
from governance.audit.models import AuditEvent
from governance.demo.onnx_models import DEMO_MODEL_KEYS, DemoModel, build_demo_model, build_demo_models
from governance.ledger import services as ledger
from governance.ledger.models import LedgerEntry
from governance.ledger.permissions import MANAGE_UNIT
from governance.workflow.services import transitions as workflow
from registry import services
from registry.choices import DatasetKind, VersionState
from registry.models import Alias, ModelPassport, ModelVersion

# Published on purpose (run_local prints it via `seed_demo --accounts`): demo accounts only, never production.
DEMO_PASSWORD = "demo-Passw0rd"  # noqa: S105

# username, role, display name
ACCOUNTS: tuple[tuple[str, str, str], ...] = (
    ("developer", Role.MODEL_DEVELOPER, "Maya Chen"),
    ("owner", Role.MODEL_OWNER, "Daniel Okafor"),
    ("validator", Role.VALIDATOR, "Irina Volkova"),
    ("risk", Role.RISK_OFFICER, "Samuel Brandt"),
    ("security", Role.SECURITY, "Priya Nair"),
    ("finance", Role.FINANCE, "Lucas Moreau"),
    ("auditor", Role.AUDITOR, "Elena Rossi"),
    ("engineer", Role.ENGINEER, "Tomas Novak"),
    ("admin", Role.ADMIN, "Platform administrator"),
)

BUSINESS_UNITS: tuple[tuple[str, str], ...] = (
    ("retail-lending", "Retail lending"),
    ("supply-chain", "Supply chain"),
    ("payments", "Payments"),
    ("customer", "Customer"),
)

# Development teams: the developer and the engineer only. Validator, risk and security stay out of every
# team so that they remain independent reviewers (segregation of duties).
TEAM_MEMBERS = ("developer", "engineer")

PASSPORTS: dict[str, dict] = {
    "credit-scoring": {
        "team": "Credit risk models",
        "business_unit": "retail-lending",
        "technical_owner": "developer",
        "materiality": "high", "decision_type": "automated", "processes_personal_data": True,
        "regulatory_exposure": "high",  # tier 1
        "purpose": "Estimate the probability that a retail borrower defaults within 12 months of origination, "
        "to support approve/decline and pricing decisions on unsecured personal loans.",
        "intended_use": "Automated decisioning of unsecured personal-loan applications of EUR 500 to 150,000 "
        "with terms of 12 to 60 months, for applicants aged 21 to 75 with a credit-bureau file. Scores are cut "
        "at the thresholds set by the credit committee; applications with a PD between 8% and 15% are referred "
        "to an underwriter.",
        "out_of_scope_uses": "Mortgages, SME or corporate lending, limit increases on existing cards, "
        "collections prioritisation, marketing pre-approval, and applicants without a bureau file (thin file).",
        "personal_data_legal_basis": "Contract performance and legitimate interest in responsible lending "
        "(GDPR Art. 6(1)(b) and (f)); bureau data under the credit-bureau agreement. No special-category data is "
        "used; protected attributes are held out and used only for fairness testing.",
        "data_sources": "Application form (income, employment, amount, term); credit-bureau report at "
        "application time (history length, delinquencies, inquiries, utilisation, debt-to-income); loan-book "
        "performance (12-month default flag) from the core banking system.",
        "features_description": "Ten numeric features: age, income, employment years, credit history years, "
        "debt-to-income, credit utilisation, delinquencies (2y), inquiries (6m), loan amount, loan term.",
        "target": "default_12m: 90+ days past due or charged off within 12 months of origination",
        "limitations": "Trained on a sample without a severe recession: PD is likely underestimated in a "
        "downturn. Income is self-declared. Discrimination is weaker for applicants with under two years of "
        "credit history. Not calibrated above EUR 150,000 or for terms over 60 months.",
        "stop_limits": {"max_decisions_per_day": 20000, "max_approved_exposure_eur_per_day": 25000000,
                        "max_approval_rate": 0.75},
        "monitoring_thresholds": {"psi": 0.2, "feature_psi": 0.25, "auc_min": 0.72, "latency_p95_ms": 150,
                                  "error_rate": 0.01},
        "contacts": "Business owner: Head of Retail Credit Risk. Developers: Credit risk models team. "
        "Incidents: #credit-models on-call.",
    },
    "fraud-detection": {
        "team": "Fraud analytics",
        "business_unit": "payments",
        "technical_owner": "developer",
        "materiality": "high", "decision_type": "automated", "processes_personal_data": True,
        "regulatory_exposure": "moderate",  # tier 1: high materiality of an automated decision
        "purpose": "Score card transactions for fraud in real time so that the authorisation service can "
        "decline or step up (3-D Secure) the riskiest ones.",
        "intended_use": "Card-present and card-not-present authorisations on the bank's debit and credit cards. "
        "Scores above the decline threshold are declined automatically; scores in the review band trigger "
        "step-up authentication or a case for the fraud operations team.",
        "out_of_scope_uses": "Account-takeover or application-fraud detection, anti-money-laundering monitoring, "
        "merchant risk rating, and any use on transactions of other issuers.",
        "personal_data_legal_basis": "Legitimate interest and legal obligation to prevent payment fraud "
        "(PSD2 strong customer authentication; GDPR Art. 6(1)(c) and (f)).",
        "data_sources": "Authorisation stream (amount, time, merchant, channel, country); card master data "
        "(card age); 30-day customer spending profile; confirmed fraud labels from chargebacks and fraud cases.",
        "features_description": "Twelve numeric features: amount, hour, foreign and card-present flags, "
        "merchant risk score, card age, transaction velocity (1h, 24h), 30-day average amount and the ratio to "
        "it, distance from home, failed PIN attempts.",
        "target": "is_fraud: transaction confirmed fraudulent within 90 days (about 3% of transactions)",
        "limitations": "Labels arrive with up to 90 days delay, so recent drift is seen late. Rare fraud "
        "patterns (new merchant categories, first-party fraud) are under-represented. Scores are not "
        "calibrated probabilities; thresholds must be set on the score distribution.",
        "stop_limits": {"max_decline_rate": 0.02, "max_declines_per_hour": 5000, "max_decisions_per_day": 3000000},
        "monitoring_thresholds": {"psi": 0.2, "feature_psi": 0.25, "auc_min": 0.8, "latency_p95_ms": 50,
                                  "error_rate": 0.001},
        "contacts": "Business owner: Head of Payments Fraud. Developers: Fraud analytics team. "
        "Incidents: fraud operations 24/7 desk.",
    },
    "demand-forecast": {
        "team": "Supply chain analytics",
        "business_unit": "supply-chain",
        "technical_owner": "engineer",
        "materiality": "medium", "decision_type": "human_in_the_loop", "processes_personal_data": False,
        "regulatory_exposure": "none",  # tier 3
        "purpose": "Forecast daily units sold per store and product line to drive replenishment proposals.",
        "intended_use": "Nightly batch forecasts for the next 14 days; planners review the proposed orders "
        "and may override them before they are sent to suppliers.",
        "out_of_scope_uses": "New stores with under 8 weeks of history, new product lines, financial budgeting "
        "and any automated ordering without planner review.",
        "personal_data_legal_basis": "No personal data is processed.",
        "data_sources": "Point-of-sale daily sales, store master data (size), price and promotion calendar, "
        "public holiday calendar, weather service daily temperature.",
        "features_description": "Eight numeric features: week of year, day of week, holiday flag, store size, "
        "temperature, price, promotion discount, units sold 7 days earlier.",
        "target": "units_sold: units sold per store and product line per day",
        "limitations": "Promotions deeper than 30% and holidays that move between weeks are poorly covered. "
        "Stock-outs censor demand in the training data, so forecasts for often out-of-stock lines are biased low.",
        "stop_limits": {"max_order_change_pct": 50, "max_units_per_store_day": 5000},
        "monitoring_thresholds": {"psi": 0.25, "mape_max": 0.25, "latency_p95_ms": 500},
        "contacts": "Business owner: Head of Supply Chain Planning. Developers: Supply chain analytics team.",
    },
    "churn-mlp": {
        "team": "Customer analytics",
        "business_unit": "customer",
        "technical_owner": "engineer",
        "materiality": "medium", "decision_type": "automated", "processes_personal_data": True,
        "regulatory_exposure": "none",  # tier 2
        "purpose": "Predict which subscribers are likely to cancel within 90 days so that retention offers "
        "go to those most at risk.",
        "intended_use": "Weekly scoring of active subscribers; the top decile automatically receives a "
        "retention offer from the approved catalogue through the CRM.",
        "out_of_scope_uses": "Pricing, credit or collections decisions; any decision with legal effect on the "
        "customer; business (B2B) subscribers.",
        "personal_data_legal_basis": "Legitimate interest in customer retention (GDPR Art. 6(1)(f)), balanced "
        "in the retention DPIA; customers who opted out of marketing are excluded.",
        "data_sources": "Billing system (contract, charges, late payments), CRM support tickets, "
        "usage records aggregated over 30 days.",
        "features_description": "Six numeric features: tenure, contract length, monthly charges, support tickets "
        "(90d), usage hours (30d), late payments (12m).",
        "target": "churned_90d: subscription cancelled within 90 days of the scoring date",
        "limitations": "A neural network: explanations rely on SHAP approximations. Monthly-contract "
        "customers dominate the sample; long-contract churn is poorly estimated. Price changes shift the "
        "monthly-charges distribution and require re-validation.",
        "stop_limits": {"max_offers_per_week": 25000, "max_offer_budget_eur_per_week": 250000},
        "monitoring_thresholds": {"psi": 0.2, "feature_psi": 0.25, "auc_min": 0.75, "latency_p95_ms": 200},
        "contacts": "Business owner: Head of Customer Retention. Developers: Customer analytics team.",
    },
}
CHALLENGER_KEY = "credit-scoring"


@dataclass
class SeedResult:
    """What one ``seed_demo`` run did; ``created`` is False when the demo data already existed."""

    created: bool
    passports: list[str] = field(default_factory=list)
    versions: int = 0
    datasets: int = 0
    audit_events: int = 0
    seconds: float = 0.0


def demo_exists() -> bool:
    """The idempotency marker: every demo passport is complete."""
    return all(_passport_complete(key) for key in DEMO_MODEL_KEYS)


def _passport_complete(key: str) -> bool:
    """The last write of ``seed_passport`` for ``key`` happened (the challenger alias, else v1)."""
    if key == CHALLENGER_KEY:
        return Alias.objects.filter(passport__key=key, name="challenger").exists()
    return ModelVersion.objects.filter(passport__key=key, number=1).exists()


def account_rows() -> list[tuple[str, str, str]]:
    """(role label, username, password) for every demo account, in role order."""
    return [(str(Role(role).label), username, DEMO_PASSWORD) for username, role, _ in ACCOUNTS]


def seed_demo() -> SeedResult:
    """Create the demo accounts, organisation and passports; do nothing when they exist already.

    Every write is one service call in its own transaction, as everywhere in the product; a run that was
    interrupted is completed by the next one, which skips what exists.
    """
    started = time.monotonic()
    if demo_exists():
        return SeedResult(created=False, seconds=time.monotonic() - started)
    events_before = AuditEvent.objects.count()
    with transaction.atomic():  # plain rows (accounts, units), written here directly rather than by a service
        users = ensure_accounts()
        units = ensure_business_units()
    missing = [key for key in DEMO_MODEL_KEYS if not _passport_complete(key)]
    demo_models = {model.key: model for model in build_demo_models() if model.key in missing}
    result = SeedResult(created=True)
    for key in missing:
        spec = PASSPORTS[key]
        team = ensure_team(spec["team"], [users[name] for name in TEAM_MEMBERS])
        versions, datasets = seed_passport(demo_models[key], users=users, unit=units[spec["business_unit"]],
                                           team=team)
        result.passports.append(key)
        result.versions += versions
        result.datasets += datasets
    seed_activity(users=users, units=units)
    result.audit_events = AuditEvent.objects.count() - events_before
    result.seconds = time.monotonic() - started
    return result


def seed_activity(*, users: dict, units: dict[str, BusinessUnit], today: date | None = None) -> None:
    """Work a reviewer can pick up at once, through the services: credit scoring's challenger v2 submitted and
    assigned to the validator (who can start a validation run on it), and the finance user granted every business
    unit, with a business case and a year and a half of quarterly entries per demo passport. Idempotent."""
    challenger = ModelVersion.objects.filter(passport__key=CHALLENGER_KEY, number=2).first()
    if challenger is not None and challenger.state == VersionState.DRAFT:
        workflow.version_submit(actor=users["developer"], version=challenger)
        workflow.validator_assign(actor=users["risk"], version=challenger, validator=users["validator"])
    finance = users["finance"]
    for unit in units.values():
        assign_perm(MANAGE_UNIT, finance, unit)
    today = today or date.today()
    first_year = today.year - 1
    for index, key in enumerate(DEMO_MODEL_KEYS):
        passport = ModelPassport.objects.filter(key=key).first()
        if passport is None or LedgerEntry.objects.filter(passport=passport).exists():
            continue
        _demo_ledger(finance, passport, LEDGER_PROFILES[index % len(LEDGER_PROFILES)], first_year, today)


# Each demo model earns differently, as real ones do: the size of the investment, what a quarter saves once the
# model is fully in use, how many quarters it takes to get there (adoption), hosting per quarter, and how the
# business case's plan compares (a model that beats its plan, one that lags it, one behind that never paid back).
LEDGER_PROFILES = [
    {"build": 90_000, "saving": 34_000, "ramp": 3, "hosting": 4_500, "plan_saving": 110_000, "first": 2},
    {"build": 160_000, "saving": 30_000, "ramp": 4, "hosting": 7_800, "plan_saving": 120_000, "first": 5},
    {"build": 60_000, "saving": 26_000, "ramp": 2, "hosting": 2_400, "plan_saving": 70_000, "first": 3},
    {"build": 210_000, "saving": 12_500, "ramp": 5, "hosting": 9_600, "plan_saving": 95_000, "first": 8},
]


def _demo_ledger(finance, passport, profile: dict, first_year: int, today: date) -> None:
    """The development cost in year 0 (the autumn before the first year), then quarterly hosting costs and savings
    that grow over ``ramp`` quarters, from the profile's first month until today; and the business case."""
    money = {name: Decimal(profile[name]) for name in ("build", "saving", "hosting", "plan_saving")}
    ledger.business_case_set(
        actor=finance, passport=passport, currency=ledger.base_currency(), discount_rate=Decimal("0.08"),
        horizon_years=3, first_year=first_year, notes="Demo plan.",
        lines=[ledger.PlanInput(0, "development", money["build"]),
               *[ledger.PlanInput(year, "cost_saving", money["plan_saving"]) for year in (1, 2, 3)],
               *[ledger.PlanInput(year, "infrastructure", money["hosting"] * 4) for year in (1, 2, 3)]])
    booking = {"actor": finance, "passport": passport, "currency": ledger.base_currency()}
    ledger.ledger_entry_book(**booking, category="development", amount=money["build"],
                             period=date(first_year - 1, 10, 1), description="Model development")
    month, quarter = date(first_year, profile["first"], 1), 0
    while month <= today.replace(day=1):
        quarter += 1
        adoption = min(Decimal(1), Decimal(quarter) / profile["ramp"])
        ledger.ledger_entry_book(**booking, category="infrastructure", amount=money["hosting"], period=month,
                                 description="Inference hosts, quarter")
        ledger.ledger_entry_book(**booking, category="cost_saving",
                                 amount=(money["saving"] * adoption).quantize(Decimal("0.01")), period=month,
                                 description="Measured saving, quarter")
        month = date(month.year + (month.month + 3 > 12), (month.month + 2) % 12 + 1, 1)


def ensure_accounts() -> dict:
    """One active user per role, in that role's group. Existing users keep their password."""
    User = get_user_model()
    password_hash = make_password(DEMO_PASSWORD)  # hashed once: the slow hasher would cost ~0.5 s per account
    users = {}
    for username, role, display_name in ACCOUNTS:
        first, _, last = display_name.partition(" ")
        user, created = User.objects.get_or_create(username=username, defaults={
            "email": f"{username}@demo.example", "display_name": display_name, "first_name": first[:150],
            "last_name": last[:150], "password": password_hash,
            "is_staff": role == Role.ADMIN, "is_superuser": role == Role.ADMIN,
        })
        user.groups.add(Group.objects.get(name=role))
        users[username] = user
    return users


def ensure_business_units() -> dict[str, BusinessUnit]:
    return {code: BusinessUnit.objects.get_or_create(code=code, defaults={"name": name})[0]
            for code, name in BUSINESS_UNITS}


def ensure_team(name: str, members: list) -> Team:
    team, _ = Team.objects.get_or_create(name=name)
    team.members.add(*members)
    return team


def seed_passport(model: DemoModel, *, users: dict, unit: BusinessUnit, team: Team) -> tuple[int, int]:
    """Passport, its two datasets, v1 with a refined schema (and for credit scoring a challenger v2).

    Returns (versions, datasets) created. Runs every write through ``registry.services`` as the developer, and
    skips what an interrupted earlier run wrote already.
    """
    spec = PASSPORTS[model.key]
    actor = users["developer"]
    answers = {name: value for name, value in spec.items() if name not in ("team", "business_unit", "technical_owner")}
    passport = ModelPassport.objects.filter(key=model.key).first() or services.passport_create(
        actor=actor, key=model.key, name=model.name, business_owner=users["owner"],
        technical_owner=users[spec["technical_owner"]], development_team=team, business_unit=unit, **answers,
    )
    created = {"versions": 0, "datasets": 0}

    def once(kind: str, existing, write):
        if existing is not None:
            return existing
        created[kind] += 1
        return write()

    reference = once("datasets", passport.datasets.filter(kind=DatasetKind.REFERENCE).first(),
                     lambda: _register_frame(actor, passport, model, "reference", DatasetKind.REFERENCE))
    once("datasets", passport.datasets.filter(kind=DatasetKind.VALIDATION).first(),
         lambda: _register_frame(actor, passport, model, "holdout", DatasetKind.VALIDATION))
    first = once("versions", passport.versions.filter(number=1).first(),
                 lambda: _register_version(actor, passport, model, training=reference))
    if model.key == CHALLENGER_KEY:
        second = once("versions", passport.versions.filter(number=2).first(),
                      lambda: _register_version(actor, passport, build_demo_model(model.key, variant="challenger"),
                                                training=reference, parent=first))
        services.alias_set(actor=actor, passport=passport, name="challenger", version=second)
    return created["versions"], created["datasets"]


def _register_frame(actor, passport, model: DemoModel, which: str, kind: str):
    frame = getattr(model, which)
    upload = ContentFile(frame.to_csv(index=False).encode(), name=f"{model.key}-{which}.csv")
    label = "reference sample (training)" if which == "reference" else "out-of-time holdout"
    return services.dataset_register(actor=actor, passport=passport, upload=upload,
                                     name=f"{model.name}: {label}", kind=kind, fmt="csv")


def _register_version(actor, passport, model: DemoModel, *, training, parent=None) -> ModelVersion:
    version = services.version_register(
        actor=actor, passport=passport, upload=ContentFile(model.onnx_bytes, name=f"{model.key}.onnx"),
        feature_names=model.feature_names, training_dataset=training, metrics=model.metrics, parent=parent,
        change_description=model.description,
    )
    features = [
        {**feature, "min": model.feature_ranges[feature["name"]][0], "max": model.feature_ranges[feature["name"]][1]}
        for feature in version.feature_schema["features"]
    ]
    return services.version_refine_schema(actor=actor, version=version,
                                          feature_schema={**version.feature_schema, "features": features})
