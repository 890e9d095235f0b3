"""docs/CONFIGURATION.md is generated from the settings model and says the same."""

from __future__ import annotations

from pathlib import Path

from app.config import Settings
from app.configdoc import allowed, group_of, render, shown_default

DOC = Path(__file__).resolve().parents[2] / "docs" / "CONFIGURATION.md"


def test_configuration_doc_matches_the_settings_model() -> None:
    assert DOC.read_text() == render(), (
        "docs/CONFIGURATION.md differs from app/config.py; regenerate it with "
        "`.venv/bin/python -m app.configdoc > docs/CONFIGURATION.md`"
    )


def test_every_setting_has_a_one_line_description_and_a_row() -> None:
    doc = render()
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description"
        assert "\n" not in field.description, name
        assert f"| `{name.upper()}` |" in doc, name


def test_rows_show_defaults_bounds_and_choices_as_an_operator_types_them() -> None:
    fields = Settings.model_fields
    assert (shown_default(fields["port"]), allowed(fields["port"])) == ("8000", "integer 1..65535")
    assert allowed(fields["app_env"]) == "development, production"
    assert (shown_default(fields["redis_url"]), allowed(fields["redis_url"])) == (
        "unset",
        "string, or unset",
    )
    assert shown_default(fields["budget_anonymous_capacity"]).startswith("2000 in production")
    assert allowed(fields["db_pool_timeout_s"]) == "number > 0"
    assert group_of("cache_response_max_tags")[0] == "Redis and caching"
    assert group_of("a_setting_of_a_new_concern")[0] == "Other"
