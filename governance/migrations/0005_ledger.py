"""The ROI / P&L ledger: entries, their yearly totals per passport, business cases and plan lines; on PostgreSQL
a trigger that refuses UPDATE and DELETE on ledger entries (corrections are reversing entries); the roles get
their ledger permissions."""

import django.db.models.deletion
import django.utils.timezone
import governance.ledger.models
from django.conf import settings
from django.db import migrations, models

PG_CREATE = """
CREATE OR REPLACE FUNCTION governance_ledgerentry_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only: % refused on governance_ledgerentry (book a reversal)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS governance_ledgerentry_append_only ON governance_ledgerentry;
CREATE TRIGGER governance_ledgerentry_append_only
    BEFORE UPDATE OR DELETE ON governance_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION governance_ledgerentry_append_only();
"""
PG_DROP = """
DROP TRIGGER IF EXISTS governance_ledgerentry_append_only ON governance_ledgerentry;
DROP FUNCTION IF EXISTS governance_ledgerentry_append_only();
"""


def add_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_CREATE, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_DROP, params=None)


def sync_roles(apps, schema_editor):
    from governance.accounts.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):

    dependencies = [
        ('governance', '0004_default_policies_and_roles'),
        ('registry', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='BusinessCase',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('currency', models.CharField(max_length=3, verbose_name='currency')),
                ('fx_rate_to_base', models.DecimalField(decimal_places=8, max_digits=18, verbose_name='rate to base currency')),
                ('base_currency', models.CharField(max_length=3, verbose_name='base currency')),
                ('discount_rate', models.DecimalField(decimal_places=6, help_text='Per year, as a fraction: 0.08 is 8 %.', max_digits=7, verbose_name='discount rate')),
                ('horizon_years', models.PositiveSmallIntegerField(verbose_name='horizon (years)')),
                ('first_year', models.PositiveSmallIntegerField(help_text='Calendar year of year 1.', verbose_name='first year')),
                ('notes', models.TextField(blank=True, verbose_name='notes')),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='updated')),
                ('passport', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='business_case', to='registry.modelpassport', verbose_name='passport')),
                ('updated_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'business case',
                'verbose_name_plural': 'business cases',
            },
        ),
        migrations.CreateModel(
            name='LedgerEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('period', models.DateField(help_text='First day of the month the amount belongs to.', verbose_name='period')),
                ('booking_date', models.DateField(default=django.utils.timezone.localdate, verbose_name='booking date')),
                ('category', models.CharField(choices=[('revenue_uplift', 'Revenue uplift'), ('cost_saving', 'Cost saving'), ('loss_avoided', 'Loss avoided'), ('development', 'Development'), ('infrastructure', 'Infrastructure / GPU hours'), ('inference', 'Inference'), ('licences', 'Licences'), ('staff', 'Staff'), ('incident_loss', 'Incident loss')], max_length=20, verbose_name='category')),
                ('amount', models.DecimalField(decimal_places=3, help_text="Signed: benefits positive, costs negative; in the entry's currency.", max_digits=18, verbose_name='amount')),
                ('currency', models.CharField(max_length=3, verbose_name='currency')),
                ('fx_rate_to_base', models.DecimalField(decimal_places=8, max_digits=18, verbose_name='rate to base currency')),
                ('base_currency', models.CharField(max_length=3, verbose_name='base currency')),
                ('amount_base', models.DecimalField(decimal_places=2, max_digits=18, verbose_name='amount in base currency')),
                ('predictions', models.BigIntegerField(blank=True, null=True, verbose_name='served predictions')),
                ('source', models.CharField(choices=[('manual', 'Manual'), ('ab_experiment', 'A/B experiment'), ('serving_usage', 'Serving usage'), ('import', 'Import')], default='manual', max_length=20, verbose_name='source')),
                ('description', models.CharField(max_length=300, verbose_name='description')),
                ('evidence_text', models.TextField(blank=True, verbose_name='evidence')),
                ('evidence_url', models.URLField(blank=True, max_length=500, verbose_name='evidence link')),
                ('evidence_file', models.FileField(blank=True, max_length=300, upload_to=governance.ledger.models.evidence_path, verbose_name='evidence file')),
                ('evidence_sha256', models.CharField(blank=True, max_length=64, verbose_name='evidence file sha256')),
                ('booked_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='booked at')),
                ('booked_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='booked by')),
                ('business_unit', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='ledger_entries', to='governance.businessunit', verbose_name='business unit')),
                ('passport', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='ledger_entries', to='registry.modelpassport', verbose_name='passport')),
                ('reversal_of', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='reversed_by', to='governance.ledgerentry', verbose_name='reverses')),
                ('version', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='ledger_entries', to='registry.modelversion', verbose_name='version')),
            ],
            options={
                'verbose_name': 'ledger entry',
                'verbose_name_plural': 'ledger entries',
                'ordering': ['-period', '-pk'],
                'default_permissions': ('add', 'view'),
            },
        ),
        migrations.CreateModel(
            name='LedgerYearTotal',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('year', models.PositiveSmallIntegerField(verbose_name='year')),
                ('benefits', models.DecimalField(decimal_places=2, default=0, max_digits=18, verbose_name='benefits')),
                ('costs', models.DecimalField(decimal_places=2, default=0, help_text='Signed: negative, as the entries.', max_digits=18, verbose_name='costs')),
                ('inference', models.DecimalField(decimal_places=2, default=0, max_digits=18, verbose_name='inference costs')),
                ('predictions', models.BigIntegerField(default=0, verbose_name='served predictions')),
                ('entries', models.IntegerField(default=0, verbose_name='entries')),
                ('passport', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='ledger_totals', to='registry.modelpassport')),
            ],
            options={
                'verbose_name': 'ledger year total',
                'verbose_name_plural': 'ledger year totals',
                'ordering': ['passport_id', 'year'],
                'default_permissions': ('view',),
            },
        ),
        migrations.CreateModel(
            name='PlanLine',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('year_index', models.PositiveSmallIntegerField(help_text='0 is the initial investment.', verbose_name='year')),
                ('category', models.CharField(choices=[('revenue_uplift', 'Revenue uplift'), ('cost_saving', 'Cost saving'), ('loss_avoided', 'Loss avoided'), ('development', 'Development'), ('infrastructure', 'Infrastructure / GPU hours'), ('inference', 'Inference'), ('licences', 'Licences'), ('staff', 'Staff'), ('incident_loss', 'Incident loss')], max_length=20, verbose_name='category')),
                ('amount', models.DecimalField(decimal_places=3, max_digits=18, verbose_name='planned amount')),
                ('amount_base', models.DecimalField(decimal_places=2, max_digits=18, verbose_name='planned amount in base currency')),
                ('business_case', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='lines', to='governance.businesscase')),
            ],
            options={
                'verbose_name': 'plan line',
                'verbose_name_plural': 'plan lines',
                'ordering': ['business_case_id', 'year_index', 'category'],
            },
        ),
        migrations.AddConstraint(
            model_name='businesscase',
            constraint=models.CheckConstraint(condition=models.Q(('discount_rate__gte', 0), ('discount_rate__lt', 1)), name='business_case_rate_range'),
        ),
        migrations.AddConstraint(
            model_name='businesscase',
            constraint=models.CheckConstraint(condition=models.Q(('fx_rate_to_base__gt', 0)), name='business_case_fx_positive'),
        ),
        migrations.AddIndex(
            model_name='ledgerentry',
            index=models.Index(fields=['passport', 'period'], name='ledger_passport_period_idx'),
        ),
        migrations.AddIndex(
            model_name='ledgerentry',
            index=models.Index(fields=['business_unit', 'period'], name='ledger_unit_period_idx'),
        ),
        migrations.AddConstraint(
            model_name='ledgerentry',
            constraint=models.CheckConstraint(condition=models.Q(('amount', 0), _negated=True), name='ledger_amount_nonzero'),
        ),
        migrations.AddConstraint(
            model_name='ledgerentry',
            constraint=models.CheckConstraint(condition=models.Q(('fx_rate_to_base__gt', 0)), name='ledger_rate_positive'),
        ),
        migrations.AddConstraint(
            model_name='ledgerentry',
            constraint=models.CheckConstraint(condition=models.Q(('category__in', ['revenue_uplift', 'cost_saving', 'loss_avoided', 'development', 'infrastructure', 'inference', 'licences', 'staff', 'incident_loss'])), name='ledger_category_valid'),
        ),
        migrations.AddConstraint(
            model_name='ledgerentry',
            constraint=models.CheckConstraint(condition=models.Q(('predictions__isnull', True), ('category', 'inference'), _connector='OR'), name='ledger_predictions_inference_only'),
        ),
        migrations.AddConstraint(
            model_name='ledgeryeartotal',
            constraint=models.UniqueConstraint(fields=('passport', 'year'), name='unique_ledger_year_total'),
        ),
        migrations.AddConstraint(
            model_name='planline',
            constraint=models.UniqueConstraint(fields=('business_case', 'year_index', 'category'), name='unique_plan_line'),
        ),
        migrations.RunPython(add_trigger, drop_trigger),
        migrations.RunPython(sync_roles, migrations.RunPython.noop),
    ]
