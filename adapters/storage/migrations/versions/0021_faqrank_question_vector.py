"""faq search: a question-only tsvector on PostgreSQL, so a search of very common words ranks the entries whose
question matches without reading thousands of other matches

PostgreSQL: a stored generated `question_vector` (the question alone, in the entry's language's configuration, as
`search_vector` in 0016) under its own GIN index (fastupdate off, as 0016 says why). `search` ranks every entry whose
question matches and only the first hundred of the others (adapters.storage.sql.SqlFaqArticles._search_postgres).
SQLite: nothing (FTS5 ranks every match fast enough).

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30 18:15:00
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

CONFIG = (
    "CASE language WHEN 'en' THEN 'english'::regconfig WHEN 'es' THEN 'spanish'::regconfig "
    "WHEN 'fr' THEN 'french'::regconfig ELSE 'simple'::regconfig END"
)
QUESTION_VECTOR = f"to_tsvector({CONFIG}, coalesce(question, ''))"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"ALTER TABLE faq_articles ADD COLUMN question_vector tsvector GENERATED ALWAYS AS ({QUESTION_VECTOR}) STORED"
    )
    op.execute(
        "CREATE INDEX ix_faq_articles_question ON faq_articles USING gin (question_vector) WITH (fastupdate = off)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_faq_articles_question")
    op.execute("ALTER TABLE faq_articles DROP COLUMN IF EXISTS question_vector")
