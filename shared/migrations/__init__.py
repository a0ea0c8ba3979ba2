"""The Alembic migrations, shipped inside the package so that an installed Newswire can migrate."""
