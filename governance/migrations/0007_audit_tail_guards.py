"""On PostgreSQL: refuse TRUNCATE of the append-only tables (row triggers never see it), and let the audit chain's
head row only move forward, to an event that exists, never be deleted or rewound.

Whoever owns the tables can still disable a trigger: the signed checkpoints written outside the database
(``governance.audit.checkpoints``) are what catch a removed tail then.
"""

from django.db import migrations

APPEND_ONLY = ("governance_auditevent", "governance_auditchainhead", "governance_ledgerentry")

PG_CREATE = """
CREATE OR REPLACE FUNCTION governance_refuse_truncate() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'TRUNCATE refused on %: the table is append-only', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION governance_auditchainhead_forward_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'the audit chain head cannot be deleted' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.id <> 1 OR NEW.last_seq <> 0 THEN
            RAISE EXCEPTION 'the audit chain has one head, created empty' USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.id = OLD.id AND NEW.last_seq = OLD.last_seq AND NEW.last_hash = OLD.last_hash THEN
        RETURN NEW;  -- a write of the same values changes nothing
    END IF;
    IF NEW.id <> OLD.id OR NEW.last_seq <= OLD.last_seq OR NOT EXISTS (
            SELECT 1 FROM governance_auditevent WHERE seq = NEW.last_seq AND hash = NEW.last_hash) THEN
        RAISE EXCEPTION 'the audit chain head only moves forward, to an event that exists (#% -> #%)',
            OLD.last_seq, NEW.last_seq USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS governance_auditchainhead_forward_only ON governance_auditchainhead;
CREATE TRIGGER governance_auditchainhead_forward_only
    BEFORE INSERT OR UPDATE OR DELETE ON governance_auditchainhead
    FOR EACH ROW EXECUTE FUNCTION governance_auditchainhead_forward_only();
""" + "".join(f"""
DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};
CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION governance_refuse_truncate();
""" for table in APPEND_ONLY)

PG_DROP = "".join(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table};\n" for table in APPEND_ONLY) + """
DROP TRIGGER IF EXISTS governance_auditchainhead_forward_only ON governance_auditchainhead;
DROP FUNCTION IF EXISTS governance_auditchainhead_forward_only();
DROP FUNCTION IF EXISTS governance_refuse_truncate();
"""


def add_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_CREATE, params=None)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("governance", "0006_checklist_attachment_name")]

    operations = [migrations.RunPython(add_triggers, drop_triggers)]
