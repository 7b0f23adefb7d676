"""Methods that create bot messages: sendMessage, sendPhoto, sendDocument, sendMediaGroup."""

from __future__ import annotations

from typing import Any

from .core import JSON, ApiError, ApiRequest, Context, api_method
from .formatting import format_text
from .media import media_object, resolve_file, resolve_photo
from .objects import now, utf16_len, without_reply

MAX_TEXT = 4096
MAX_CAPTION = 1024


def target_chat(ctx: Context, value: Any) -> JSON:
    """Resolve ``chat_id`` (an id or "@channelusername") to a chat object."""
    if isinstance(value, str) and value.startswith("@"):
        chat = ctx.state.chat_by_username(value[1:])
        if chat is None:
            raise ApiError.bad_request("chat not found")
        return chat
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError.bad_request("chat_id is empty" if not value else "chat not found")
    return ctx.state.chat(value)


def _reply_spec(params: JSON) -> tuple[Any, Any, bool] | None:
    """(message_id, chat_id, allow_sending_without_reply) from either reply API generation."""
    legacy_allow = bool(params.get("allow_sending_without_reply", False))
    spec = params.get("reply_parameters")
    if isinstance(spec, dict) and "message_id" in spec:
        allow = bool(spec.get("allow_sending_without_reply", legacy_allow))
        return spec["message_id"], spec.get("chat_id"), allow
    if params.get("reply_to_message_id") is not None:
        return params["reply_to_message_id"], None, legacy_allow
    return None


def reply_target(ctx: Context, chat: JSON, params: JSON) -> JSON | None:
    spec = _reply_spec(params)
    if spec is None:
        return None
    message_id, other_chat, allow = spec
    if other_chat is not None and target_chat(ctx, other_chat)["id"] != chat["id"]:
        raise ApiError.bad_request("replies to other chats are not supported by the fake API")
    target = ctx.state.get_message(chat["id"], int(message_id))
    if target is None:
        if allow:
            return None
        raise ApiError.bad_request("message to be replied not found")
    return without_reply(target)


def inline_markup(params: JSON) -> JSON | None:
    """Validate ``reply_markup``; only inline keyboards are echoed back in the Message."""
    markup = params.get("reply_markup")
    if not isinstance(markup, dict) or "inline_keyboard" not in markup:
        return None
    for row in markup["inline_keyboard"]:
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise ApiError.bad_request("BUTTON_DATA_INVALID")
            if set(button) <= {"text"}:
                raise ApiError.bad_request("text buttons are unallowed in the inline keyboard")
    return markup


def caption_fields(params: JSON) -> JSON:
    caption = params.get("caption")
    if caption is None:
        return {}
    text, entities = format_text(
        str(caption), params.get("parse_mode"), params.get("caption_entities")
    )
    if utf16_len(text) > MAX_CAPTION:
        raise ApiError.bad_request("message caption is too long")
    return {"caption": text, "caption_entities": entities} if entities else {"caption": text}


def post_message(ctx: Context, chat: JSON, params: JSON, content: JSON) -> JSON:
    """Store a message from the bot in ``chat`` and return it as the API answers it."""
    if params.get("ephemeral_message_parameters") is not None and not ctx.state.ephemeral_ignored:
        from .ephemeral import post_ephemeral  # it builds on this module

        return post_ephemeral(ctx, chat, params, content)
    message: JSON = {"date": now(), "chat": chat, "from": ctx.bot_user, **content}
    reply = reply_target(ctx, chat, params)
    if reply is not None:
        message["reply_to_message"] = reply
    if params.get("message_thread_id"):
        message["message_thread_id"] = params["message_thread_id"]
    markup = inline_markup(params)
    if markup is not None:
        message["reply_markup"] = markup
    if chat["type"] == "channel":
        message["sender_chat"] = chat
    return ctx.state.add_message(chat["id"], message)


def message_text(params: JSON) -> tuple[str, list[JSON]]:
    """A message's text and entities, refused as Telegram refuses them (sent or edited)."""
    raw = params.get("text")
    text, entities = format_text(
        "" if raw is None else str(raw), params.get("parse_mode"), params.get("entities")
    )
    if not text.strip():
        raise ApiError.bad_request("message text is empty")
    if utf16_len(text) > MAX_TEXT:
        raise ApiError.bad_request("message is too long")
    return text, entities


@api_method("sendMessage")
def send_message(ctx: Context, req: ApiRequest) -> JSON:
    chat = target_chat(ctx, req.params.get("chat_id"))
    text, entities = message_text(req.params)
    content: JSON = {"text": text, "entities": entities} if entities else {"text": text}
    return post_message(ctx, chat, req.params, content)


@api_method("sendPhoto")
def send_photo(ctx: Context, req: ApiRequest) -> JSON:
    chat = target_chat(ctx, req.params.get("chat_id"))
    captions = caption_fields(req.params)
    photo = resolve_photo(ctx.state, req, req.params.get("photo"), "photo")
    extra = {"has_media_spoiler": True} if req.params.get("has_spoiler") else {}
    return post_message(ctx, chat, req.params, {"photo": photo, **captions, **extra})


@api_method("sendDocument")
def send_document(ctx: Context, req: ApiRequest) -> JSON:
    chat = target_chat(ctx, req.params.get("chat_id"))
    captions = caption_fields(req.params)
    stored = resolve_file(ctx.state, req, req.params.get("document"), "document", "document")
    document = media_object(stored, "document", req.params)
    return post_message(ctx, chat, req.params, {"document": document, **captions})


@api_method("sendMediaGroup")
def send_media_group(ctx: Context, req: ApiRequest) -> list[JSON]:
    chat = target_chat(ctx, req.params.get("chat_id"))
    media = req.params.get("media")
    if not isinstance(media, list) or not 2 <= len(media) <= 10:
        raise ApiError.bad_request("array of media must include 2-10 items")
    kinds = {item.get("type") for item in media}
    if not kinds <= {"photo", "video", "document", "audio"}:
        raise ApiError.bad_request("unsupported media type in the media group")
    if len(kinds) > 1 and kinds & {"document", "audio"}:
        kind = sorted(kinds & {"document", "audio"})[0]
        raise ApiError.bad_request(f"{kind} can't be mixed with other media types")
    contents: list[JSON] = []
    for item in media:
        kind = str(item["type"])
        if kind == "photo":
            content: JSON = {"photo": resolve_photo(ctx.state, req, item.get("media"), "media")}
        else:
            stored = resolve_file(ctx.state, req, item.get("media"), "media", kind)
            content = {kind: media_object(stored, kind, item)}
        if item.get("has_spoiler"):
            content["has_media_spoiler"] = True
        contents.append({**content, **caption_fields(item)})
    # Unique per chat: derived from the id the first message of the group will get.
    group_id = str(10**12 + ctx.state.last_message_id.get(chat["id"], 0) + 1)
    return [
        post_message(ctx, chat, req.params, {**content, "media_group_id": group_id})
        for content in contents
    ]
