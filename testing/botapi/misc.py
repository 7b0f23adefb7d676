"""Bot-level methods: getMe, getFile, getChat, commands, webhook and harmless setters."""

from __future__ import annotations

import json
import re

from .core import JSON, ApiError, ApiRequest, Context, api_method
from .media import file_object
from .objects import make_chat_full_info, make_me
from .sending import target_chat

_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
MAX_DOWNLOAD = 20 * 1024 * 1024  # bots cannot download files bigger than 20 MB


@api_method("getMe")
def get_me(ctx: Context, req: ApiRequest) -> JSON:
    return make_me(ctx.bot_user)


@api_method("getFile")
def get_file(ctx: Context, req: ApiRequest) -> JSON:
    file_id = req.params.get("file_id")
    stored = ctx.state.files.get(file_id) if isinstance(file_id, str) else None
    if stored is None:
        raise ApiError.bad_request("invalid file_id")
    if len(stored.data) > MAX_DOWNLOAD:
        raise ApiError.bad_request("file is too big")
    return file_object(stored)


@api_method("getChat")
def get_chat(ctx: Context, req: ApiRequest) -> JSON:
    return make_chat_full_info(target_chat(ctx, req.params.get("chat_id")))


def _commands_key(params: JSON) -> str:
    # Commands are stored per (scope, language) pair, like Telegram does.
    scope = params.get("scope") or {"type": "default"}
    return json.dumps([scope, params.get("language_code") or ""], sort_keys=True)


@api_method("setMyCommands")
def set_my_commands(ctx: Context, req: ApiRequest) -> bool:
    commands = req.params.get("commands")
    if not isinstance(commands, list) or len(commands) > 100:
        raise ApiError.bad_request("commands must be an array of at most 100 items")
    for command in commands:
        if not _COMMAND_NAME.fullmatch(str(command.get("command", ""))):
            raise ApiError.bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(str(command.get("description", ""))) <= 256:
            raise ApiError.bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    ctx.state.commands[_commands_key(req.params)] = commands
    return True


@api_method("getMyCommands")
def get_my_commands(ctx: Context, req: ApiRequest) -> list[JSON]:
    return ctx.state.commands.get(_commands_key(req.params), [])


@api_method("deleteMyCommands")
def delete_my_commands(ctx: Context, req: ApiRequest) -> bool:
    ctx.state.commands.pop(_commands_key(req.params), None)
    return True


@api_method("deleteWebhook")
def delete_webhook(ctx: Context, req: ApiRequest) -> bool:
    if req.params.get("drop_pending_updates"):
        ctx.state.updates.clear()
    return True


@api_method("getWebhookInfo")
def get_webhook_info(ctx: Context, req: ApiRequest) -> JSON:
    pending = len(ctx.state.updates)
    return {"url": "", "has_custom_certificate": False, "pending_update_count": pending}


# Start-up setters a bot may call; Telegram answers True and the fake only records the call.
@api_method(
    "setMyDescription",
    "setMyShortDescription",
    "setMyName",
    "setChatMenuButton",
    "setMyDefaultAdministratorRights",
)
def accept(ctx: Context, req: ApiRequest) -> bool:
    return True
