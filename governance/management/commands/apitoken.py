"""Create, list and revoke API tokens from the command line (e.g. for a CI/CD robot account)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from core.errors import DomainError
from governance.accounts.choices import TokenScope
from governance.accounts.models import ApiToken
from governance.accounts.services import token_create, token_revoke


class Command(BaseCommand):
    help = "Manage API tokens: create (prints the secret once), list, revoke."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create")
        create.add_argument("username")
        create.add_argument("--name", required=True)
        create.add_argument("--scope", action="append", dest="scopes", choices=TokenScope.values, required=True)
        create.add_argument("--days", type=int, default=None)
        listing = sub.add_parser("list")
        listing.add_argument("username", nargs="?")
        revoke = sub.add_parser("revoke")
        revoke.add_argument("prefix")

    def handle(self, *args, **options):
        try:
            getattr(self, f"_{options['action']}")(options)
        except DomainError as exc:
            raise CommandError(exc.message)

    def _user(self, username):
        try:
            return get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user '{username}'.")

    def _create(self, options):
        user = self._user(options["username"])
        token, secret = token_create(user=user, name=options["name"], scopes=options["scopes"],
                                     ttl_days=options["days"], actor=user)
        self.stdout.write(f"{secret}\n")
        self.stderr.write(f"Token {token.prefix} for {user} expires {token.expires_at:%Y-%m-%d}; "
                          "the secret above is shown only once.")

    def _list(self, options):
        qs = ApiToken.objects.select_related("user")
        if options.get("username"):
            qs = qs.filter(user=self._user(options["username"]))
        for t in qs:
            state = "revoked" if t.revoked_at else ("expired" if not t.is_active else "active")
            self.stdout.write(f"{t.prefix}\t{t.user}\t{t.name}\t{','.join(t.scopes)}\t{t.expires_at:%Y-%m-%d}\t{state}")

    def _revoke(self, options):
        token = ApiToken.objects.select_related("user").filter(prefix=options["prefix"]).first()
        if token is None:
            raise CommandError(f"No token with prefix '{options['prefix']}'.")
        token_revoke(token=token, actor=token.user)
        self.stdout.write(f"Revoked {token.prefix}.")
