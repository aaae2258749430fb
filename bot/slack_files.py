"""Charts as Slack files: Block Kit shows images only from a public URL, which a bot on loopback
has not got, so a view's PNGs follow its message as files (files_upload_v2). Used for replies
(bot/slack.py) and for what the delivery engine sends (bot/slack_send.py)."""

from __future__ import annotations

import logging

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack_blocks import images_of
from dialogs.views import View

logger = logging.getLogger(__name__)

MAX_ALT_TEXT = 1000


def slack_error(error: SlackApiError) -> str:
    """Slack's error code; an answer that is not Slack's JSON (a proxy's HTML page) has none."""
    data = error.response.data
    if isinstance(data, dict):
        return str(data.get("error"))
    return f"HTTP {error.response.status_code}"


async def upload_images(
    client: AsyncWebClient, view: View, *, channel: str, thread_ts: str | None = None
) -> None:
    """The view's pictures as files in ``channel`` (files.getUploadURLExternal, the upload,
    files.completeUploadExternal), since Block Kit shows images only from a public URL."""
    images = images_of(view)
    if not images:
        return
    uploads = [
        {
            "file": image.data,
            "filename": image.filename,
            "title": image.title or "Chart",
            "alt_txt": (image.alt or image.title)[:MAX_ALT_TEXT] or None,
        }
        for image in images
    ]
    try:
        await client.files_upload_v2(file_uploads=uploads, channel=channel, thread_ts=thread_ts)
    except SlackApiError as error:
        logger.error("Slack refused a chart: %s", slack_error(error))
    except SlackRequestError as error:
        # The upload itself failed (slack_sdk says so with the status, never the content).
        logger.error("a chart could not be uploaded: %s", error)
    except (TimeoutError, aiohttp.ClientError) as error:
        logger.error("Slack could not be reached for a chart: %s", type(error).__name__)
