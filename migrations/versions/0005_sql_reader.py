"""A role for SQL from the browser, and functions that make stored attention readable.

`exbert_reader` logs in, may SELECT the store's tables and views and nothing
else: no superuser, no role it could switch to, every transaction read-only by
default, bounded memory and temporary files. The SQL page and POST /api/sql
connect as this role (explore/sql.py), so what protects the store is the database.
Creating a role needs CREATEROLE: where the migrating user lacks it, the role is
left to the administrator (docs/sql.md says how) and the grants are made once it
exists.

`attention_weight` and `sentence_attention` read the uint8 attention bytes
(weight = byte / 255) so that a question about heads is one query.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ROLE = "exbert_reader"

CREATE_ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
        CREATE ROLE {ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT
            NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 20;
    END IF;
    ALTER ROLE {ROLE} SET default_transaction_read_only = on;
    ALTER ROLE {ROLE} SET statement_timeout = '60s';
    ALTER ROLE {ROLE} SET work_mem = '16MB';
    ALTER ROLE {ROLE} SET temp_file_limit = '256MB';
    ALTER ROLE {ROLE} SET idle_in_transaction_session_timeout = '60s';
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'not allowed to create role {ROLE}: the SQL page needs an administrator to';
    WHEN duplicate_object THEN NULL;  -- another database of this server made it meanwhile
END $$;
"""

GRANTS = f"""
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO {ROLE}', current_database());
        GRANT USAGE ON SCHEMA public TO {ROLE};
        GRANT SELECT ON ALL TABLES IN SCHEMA public TO {ROLE};
        -- the vector partitions made later, one per space
        ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {ROLE};
    END IF;
END $$;
"""

FUNCTIONS = """
CREATE FUNCTION attention_weight(
    p_sentence bigint, p_model text, p_layer integer, p_head integer, p_query integer, p_key integer
) RETURNS double precision LANGUAGE sql STABLE AS $$
    SELECT get_byte(a.weights, p_head * a.tokens * a.tokens + p_query * a.tokens + p_key) / 255.0
    FROM attentions a JOIN models m ON m.id = a.model_id
    WHERE a.sentence_id = p_sentence AND m.name = p_model AND a.layer = p_layer
      AND p_head BETWEEN 0 AND a.heads - 1
      AND p_query BETWEEN 0 AND a.tokens - 1 AND p_key BETWEEN 0 AND a.tokens - 1
$$;
COMMENT ON FUNCTION attention_weight IS
    'How much token p_query attends to token p_key under one head (positions as in tokens)';

CREATE FUNCTION sentence_attention(
    p_sentence bigint, p_model text, p_layer integer, p_head integer DEFAULT NULL
) RETURNS TABLE (head integer, query_position integer, key_position integer, weight double precision)
LANGUAGE sql STABLE AS $$
    SELECT h, q, k, get_byte(a.weights, h * a.tokens * a.tokens + q * a.tokens + k) / 255.0
    FROM attentions a
    JOIN models m ON m.id = a.model_id
    CROSS JOIN LATERAL generate_series(coalesce(p_head, 0), coalesce(p_head, a.heads - 1)) h
    CROSS JOIN LATERAL generate_series(0, a.tokens - 1) q
    CROSS JOIN LATERAL generate_series(0, a.tokens - 1) k
    WHERE a.sentence_id = p_sentence AND m.name = p_model AND a.layer = p_layer
      AND h BETWEEN 0 AND a.heads - 1
$$;
COMMENT ON FUNCTION sentence_attention IS
    'One sentence''s attention at one layer as rows (one head, or all): head, query, key, weight';
"""


def upgrade() -> None:
    op.execute(CREATE_ROLE)
    op.execute(GRANTS)
    op.execute(FUNCTIONS)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS sentence_attention(bigint, text, integer, integer)")
    op.execute(
        "DROP FUNCTION IF EXISTS attention_weight(bigint, text, integer, integer, integer, integer)"
    )
    op.execute(
        f"""
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
        ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT ON TABLES FROM {ROLE};
        REVOKE SELECT ON ALL TABLES IN SCHEMA public FROM {ROLE};
        REVOKE USAGE ON SCHEMA public FROM {ROLE};
        EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM {ROLE}', current_database());
    END IF;
END $$;
"""
    )
    # the role stays while another database of the server grants it anything
