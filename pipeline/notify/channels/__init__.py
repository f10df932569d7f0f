"""One module per channel. `client(channel, config)` builds the sender a channel's config names."""
from __future__ import annotations

from pipeline.notify.config import Channel, NotifyConfig


def client(channel: Channel, config: NotifyConfig, session=None):
    if channel.type == "email":
        from pipeline.notify.channels.email import Email

        return Email(host=channel.host, port=channel.port, sender=channel.sender, directory=config.directory,
                     username=channel.username, password=channel.smtp_password(), starttls=channel.starttls,
                     ca_file=channel.ca_file, timeout=channel.timeout_seconds)
    if channel.type == "slack":
        from pipeline.notify.channels.slack import Slack

        return Slack(channel.webhook_url(), timeout=channel.timeout_seconds, session=session)
    if channel.type == "wecom":
        from pipeline.notify.channels.wecom import WeCom as robot
    elif channel.type == "dingtalk":
        from pipeline.notify.channels.dingtalk import DingTalk as robot
    else:
        from pipeline.notify.channels.feishu import Feishu as robot
    return robot(channel.webhook_url(), secret=channel.signing_secret(), timeout=channel.timeout_seconds,
                 session=session)
