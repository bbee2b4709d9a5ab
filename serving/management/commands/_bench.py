"""What the serving benchmarks share: the people and the tier-3 passport they deploy, in a scratch database."""

from __future__ import annotations


def bench_passport(key: str, name: str):
    """An administrator, an engineer in the passport's development team, and a tier-3 passport; returns
    ``(admin, engineer, passport)``."""
    from django.contrib.auth.models import Group

    from governance.accounts.models import BusinessUnit, Team, User
    from registry import services as registry_services

    admin = User.objects.create_superuser("bench-admin", "admin@example.com", "x")
    engineer = User.objects.create_user("bench-engineer", "eng@example.com", "x")
    engineer.groups.add(Group.objects.get(name="model_developer"))
    team = Team.objects.create(name="Bench")
    team.members.add(engineer)
    unit = BusinessUnit.objects.create(code="bench", name="Bench")
    passport = registry_services.passport_create(
        actor=engineer, key=key, name=name, purpose="Benchmark.", business_owner=engineer,
        technical_owner=engineer, development_team=team, business_unit=unit, materiality="low",
        decision_type="human_in_the_loop", processes_personal_data=False, regulatory_exposure="none")
    return admin, engineer, passport
