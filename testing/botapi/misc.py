"""Bot-level methods: getMe, getFile, getChat, deleteWebhook."""

from __future__ import annotations

from .core import JSON, ApiError, ApiRequest, Context, api_method
from .media import file_object
from .objects import make_chat_full_info, make_me
from .sending import target_chat

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


@api_method("deleteWebhook")
def delete_webhook(ctx: Context, req: ApiRequest) -> bool:
    if req.params.get("drop_pending_updates"):
        ctx.state.updates.clear()
    ctx.state.webhook.url = ctx.state.webhook.secret_token = ""
    return True
