import pytest

from bot.app import partnership_of
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
    assert (settings.retention_months, settings.privacy_contact) == (0, "")  # keep everything
    assert settings.min_respondents == 5


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
            "PARTNERBOT_RETENTION_MONTHS": "24",
            "PARTNERBOT_PRIVACY_CONTACT": "dpo@council.example",
            "PARTNERBOT_MIN_RESPONDENTS": "3",
            "UNRELATED": "x",
        }
    )
    assert settings.port == 8080
    assert settings.admins == ("U1", "29:abc")
    assert settings.slack_enabled
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"
    assert (settings.retention_months, settings.privacy_contact) == (24, "dpo@council.example")
    assert settings.min_respondents == 3
    assert partnership_of(settings).min_respondents == 3  # what the core is given


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"PARTNERBOT_PORT": "eighty"}, "PARTNERBOT_PORT"),
        ({"PARTNERBOT_TIMEZONE": "Mars/Olympus"}, "PARTNERBOT_TIMEZONE"),
        ({"PARTNERBOT_ENV": "staging"}, "PARTNERBOT_ENV"),
        ({"PARTNERBOT_RETENTION_MONTHS": "-1"}, "PARTNERBOT_RETENTION_MONTHS"),
        ({"PARTNERBOT_RETENTION_MONTHS": "two years"}, "PARTNERBOT_RETENTION_MONTHS"),
        ({"PARTNERBOT_MIN_RESPONDENTS": "1"}, "PARTNERBOT_MIN_RESPONDENTS"),
        ({"PARTNERBOT_MIN_RESPONDENTS": "five"}, "PARTNERBOT_MIN_RESPONDENTS"),
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


KEY = "q7rC1cbUtcXwbRPSB7BcgW1UQ8DhCW8h6A5xvY1sS0Q="  # a Fernet key (32 bytes, url-safe base64)
OAUTH = {
    "PARTNERBOT_SLACK_SIGNING_SECRET": "s",
    "PARTNERBOT_SLACK_CLIENT_ID": "123.456",
    "PARTNERBOT_SLACK_CLIENT_SECRET": "cs",
    "PARTNERBOT_SLACK_TOKEN_KEY": KEY,
}


def test_a_slack_client_id_turns_slack_on_in_the_oauth_mode():
    settings = load_settings({"PARTNERBOT_ENV": "production", **OAUTH})
    assert settings.slack_enabled and settings.slack_oauth
    assert settings.slack_authorize_url == "https://slack.com/oauth/v2/authorize"
    assert not load_settings({"PARTNERBOT_SLACK_BOT_TOKEN": "xoxb"}).slack_oauth


@pytest.mark.parametrize(
    "missing",
    [
        "PARTNERBOT_SLACK_SIGNING_SECRET",
        "PARTNERBOT_SLACK_CLIENT_SECRET",
        "PARTNERBOT_SLACK_TOKEN_KEY",
    ],
)
def test_production_refuses_the_oauth_mode_without_each_of_its_variables(missing):
    variables = {k: v for k, v in OAUTH.items() if k != missing}
    with pytest.raises(SettingsError, match=missing):
        load_settings({"PARTNERBOT_ENV": "production", **variables})


def test_production_refuses_slack_with_an_empty_signing_secret_in_either_mode():
    for variables in (
        {"PARTNERBOT_SLACK_BOT_TOKEN": "xoxb", "PARTNERBOT_SLACK_SIGNING_SECRET": ""},
        {**OAUTH, "PARTNERBOT_SLACK_SIGNING_SECRET": ""},
    ):
        with pytest.raises(SettingsError) as refused:
            load_settings({"PARTNERBOT_ENV": "production", **variables})
        assert str(refused.value) == (
            "production needs these variables set: PARTNERBOT_SLACK_SIGNING_SECRET"
        )


def test_a_bot_token_and_a_client_id_together_are_refused():
    with pytest.raises(SettingsError, match="not both"):
        load_settings({**OAUTH, "PARTNERBOT_SLACK_BOT_TOKEN": "xoxb"})


@pytest.mark.parametrize("key", ["not-a-key", KEY[:-4], f"{KEY},short"])
def test_a_token_key_that_is_not_a_fernet_key_is_refused_by_name(key):
    with pytest.raises(SettingsError, match=r"PARTNERBOT_SLACK_TOKEN_KEY: .*32 url-safe"):
        load_settings({**OAUTH, "PARTNERBOT_SLACK_TOKEN_KEY": key})


def test_several_token_keys_are_accepted_for_rotation():
    other = "B1dm3jS2o0C2zGkq1VvK7kQk4vKXg0ZQb7m2zS0mY5o="
    settings = load_settings({**OAUTH, "PARTNERBOT_SLACK_TOKEN_KEY": f"{other}, {KEY}"})
    assert settings.slack_token_key.startswith(other)
