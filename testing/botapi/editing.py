"""Methods that change or answer existing things: edits, deletes, query answers, chat actions."""

from __future__ import annotations

from .core import JSON, ApiError, ApiRequest, Context, api_method
from .media import media_object, resolve_file, resolve_photo
from .objects import now
from .sending import caption_fields, inline_markup, message_text, target_chat

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
MEDIA_KINDS = ("photo", "document", "video", "audio", "animation")
QUERY_EXPIRED = "query is too old and response timeout expired or query ID is invalid"


def _editable(ctx: Context, req: ApiRequest) -> JSON:
    """The stored bot message addressed by chat_id + message_id (edited in place)."""
    chat = target_chat(ctx, req.params.get("chat_id"))
    message_id = req.params.get("message_id")
    message = (
        ctx.state.get_message(chat["id"], message_id) if isinstance(message_id, int) else None
    )
    if message is None:
        raise ApiError.bad_request("message to edit not found")
    if message.get("from", {}).get("id") != ctx.bot_id:
        raise ApiError.bad_request("message can't be edited")
    return message


def _apply_edit(message: JSON, changes: JSON, params: JSON) -> JSON:
    # Leaving reply_markup out of an edit removes the inline keyboard, as on Telegram.
    changes = {**changes, "reply_markup": inline_markup(params)}
    if all(message.get(key) == value for key, value in changes.items()):
        raise ApiError.bad_request(NOT_MODIFIED)
    for key, value in changes.items():
        if value is None:
            message.pop(key, None)
        else:
            message[key] = value
    message["edit_date"] = now()
    return dict(message)


@api_method("editMessageText")
def edit_message_text(ctx: Context, req: ApiRequest) -> JSON | bool:
    if req.params.get("inline_message_id"):
        return True  # inline messages live outside any chat; only the call is recorded
    message = _editable(ctx, req)
    if "text" not in message:
        raise ApiError.bad_request("there is no text in the message to edit")
    text, entities = message_text(req.params)
    return _apply_edit(message, {"text": text, "entities": entities or None}, req.params)


@api_method("editMessageMedia")
def edit_message_media(ctx: Context, req: ApiRequest) -> JSON | bool:
    media = req.params.get("media")
    if not isinstance(media, dict) or media.get("type") not in MEDIA_KINDS:
        raise ApiError.bad_request("can't parse InputMedia: media type is not specified")
    kind = str(media["type"])
    if req.params.get("inline_message_id"):
        # Inline messages cannot take a new upload; an id or a URL only.
        if req.upload_ref(media.get("media")) is not None:
            raise ApiError.bad_request("can't use a new file for an inline message")
        return True
    message = _editable(ctx, req)
    if kind == "photo":
        content: object = resolve_photo(ctx.state, req, media.get("media"), "media")
    else:
        stored = resolve_file(ctx.state, req, media.get("media"), "media", kind)
        content = media_object(stored, kind, media)
    # The new media replaces the old one (or a text) with its caption; no caption, none.
    changes: JSON = dict.fromkeys(("text", "entities", "caption", "caption_entities"))
    changes |= {old: None for old in MEDIA_KINDS if old in message}
    changes |= {kind: content, **caption_fields(media)}
    changes["has_media_spoiler"] = True if media.get("has_spoiler") else None
    return _apply_edit(message, changes, req.params)


@api_method("deleteMessage")
def delete_message(ctx: Context, req: ApiRequest) -> bool:
    chat = target_chat(ctx, req.params.get("chat_id"))
    message_id = req.params.get("message_id")
    if not isinstance(message_id, int) or not ctx.state.delete_message(chat["id"], message_id):
        raise ApiError.bad_request("message to delete not found")
    return True


@api_method("sendChatAction")
def send_chat_action(ctx: Context, req: ApiRequest) -> bool:
    target_chat(ctx, req.params.get("chat_id"))
    if req.params.get("action") not in CHAT_ACTIONS:
        raise ApiError.bad_request("wrong parameter action in request")
    return True


def _close_query(ctx: Context, query_id: object) -> None:
    """Each callback/inline query can be answered once, and only if the fake API issued it."""
    if str(query_id) not in ctx.state.open_queries:
        raise ApiError.bad_request(QUERY_EXPIRED)
    ctx.state.open_queries.discard(str(query_id))


@api_method("answerCallbackQuery")
def answer_callback_query(ctx: Context, req: ApiRequest) -> bool:
    _close_query(ctx, req.params.get("callback_query_id"))
    return True


@api_method("answerInlineQuery")
def answer_inline_query(ctx: Context, req: ApiRequest) -> bool:
    results = req.params.get("results")
    if not isinstance(results, list) or len(results) > 50:
        raise ApiError.bad_request("results must be an array of at most 50 items")
    ids = [str(result.get("id")) for result in results]
    if len(set(ids)) != len(ids):
        raise ApiError.bad_request("RESULT_ID_DUPLICATE")
    _close_query(ctx, req.params.get("inline_query_id"))
    return True
