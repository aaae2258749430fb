import pytest

from config.settings import Environment, SettingsError, load_settings


def test_defaults_from_an_empty_environment():
    settings = load_settings({})
    assert settings.database_url == "sqlite+aiosqlite:///./partnerbot.db"
    assert (settings.host, settings.port) == ("127.0.0.1", 3978)
    assert settings.env is Environment.DEVELOPMENT
    assert settings.timezone == "Europe/London"
    assert settings.slack_enabled is False
    assert settings.teams_enabled is True  # the local emulator needs no credentials
    assert settings.slack_api_url == "https://slack.com/api/"


def test_reads_every_variable_from_the_given_environment():
    settings = load_settings(
        {
            "PARTNERBOT_DATABASE_URL": "postgresql+asyncpg://u@h/db",
            "PARTNERBOT_PORT": "8080",
            "PARTNERBOT_TIMEZONE": "Australia/Melbourne",
            "PARTNERBOT_ADMINS": "U1, 29:abc ,",
            "PARTNERBOT_SLACK_SIGNING_SECRET": "s",
            "PARTNERBOT_SLACK_BOT_TOKEN": "xoxb-1",
            "PARTNERBOT_SLACK_API_URL": "http://127.0.0.1:9/api",
            "UNRELATED": "x",
        }
    )
    assert settings.port == 8080
    assert settings.admins == ("U1", "29:abc")
    assert settings.slack_enabled
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"PARTNERBOT_PORT": "eighty"}, "PARTNERBOT_PORT"),
        ({"PARTNERBOT_TIMEZONE": "Mars/Olympus"}, "PARTNERBOT_TIMEZONE"),
        ({"PARTNERBOT_ENV": "staging"}, "PARTNERBOT_ENV"),
    ],
)
def test_bad_values_name_the_variable(variables, named):
    with pytest.raises(SettingsError, match=named):
        load_settings(variables)


@pytest.mark.parametrize(
    ("variables", "missing"),
    [
        ({"PARTNERBOT_TEAMS_APP_ID": "app"}, "PARTNERBOT_TEAMS_APP_PASSWORD"),
        ({"PARTNERBOT_TEAMS_APP_PASSWORD": "pw"}, "PARTNERBOT_TEAMS_APP_ID"),
        ({"PARTNERBOT_SLACK_BOT_TOKEN": "xoxb"}, "PARTNERBOT_SLACK_SIGNING_SECRET"),
        ({"PARTNERBOT_SLACK_SIGNING_SECRET": "s"}, "PARTNERBOT_SLACK_BOT_TOKEN"),
        (
            {
                "PARTNERBOT_TEAMS_APP_ID": "a",
                "PARTNERBOT_TEAMS_APP_PASSWORD": "p",
                "PARTNERBOT_TEAMS_APP_TYPE": "SingleTenant",
            },
            "PARTNERBOT_TEAMS_TENANT_ID",
        ),
        ({}, "at least one platform"),
    ],
)
def test_production_refuses_missing_credentials(variables, missing):
    with pytest.raises(SettingsError, match=missing):
        load_settings({"PARTNERBOT_ENV": "production", **variables})


def test_production_with_complete_credentials_starts_and_turns_teams_auth_on():
    settings = load_settings(
        {
            "PARTNERBOT_ENV": "production",
            "PARTNERBOT_TEAMS_APP_ID": "app",
            "PARTNERBOT_TEAMS_APP_PASSWORD": "pw",
        }
    )
    assert settings.teams_enabled and not settings.teams_auth_disabled
    assert not settings.slack_enabled


def test_production_without_teams_credentials_does_not_serve_teams():
    settings = load_settings(
        {
            "PARTNERBOT_ENV": "production",
            "PARTNERBOT_SLACK_SIGNING_SECRET": "s",
            "PARTNERBOT_SLACK_BOT_TOKEN": "xoxb",
        }
    )
    assert not settings.teams_enabled


def test_env_file_fills_gaps_but_the_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("PARTNERBOT_PORT=4000\nPARTNERBOT_TIMEZONE=Australia/Melbourne\n")
    settings = load_settings({"PARTNERBOT_PORT": "5000"}, env_file=env_file)
    assert settings.port == 5000
    assert settings.timezone == "Australia/Melbourne"


def test_env_file_is_ignored_in_production(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("PARTNERBOT_SLACK_BOT_TOKEN=from-file\n")
    with pytest.raises(SettingsError, match="at least one platform"):
        load_settings({"PARTNERBOT_ENV": "production"}, env_file=env_file)
