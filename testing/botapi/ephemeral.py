"""Ephemeral messages (Bot API 10.2) and message reactions, as a group's members see them.

A message sent with `ephemeral_message_parameters` is shown to its `receiver_user_id` only:
it is kept apart from the chat's history, has `message_id` 0 and an `ephemeral_message_id` of
its own, and is edited and deleted with the `*EphemeralMessage*` methods. `refuse_ephemeral`
makes the server answer such parameters with a 400, as a server older than 10.2 would, so a
bot's fallback can be tested. `setMessageReaction` keeps the bot's reaction on a message.
"""

from __future__ import annotations

import copy

from .core import JSON, ApiError, ApiRequest, Context, api_method
from .media import resolve_photo
from .objects import make_user, now
from .sending import caption_fields, inline_markup, message_text, reply_target, target_chat

UNSUPPORTED = "ephemeral messages are not supported by this server"
# The emoji a bot may react with (Telegram's ReactionTypeEmoji list, as of Bot API 10.2).
_EMOJI = """
👍 👎 ❤ 🔥 🥰 👏 😁 🤔 🤯 😱 🤬 😢 🎉 🤩 🤮 💩 🙏 👌 🕊 🤡
🥱 🥴 😍 🐳 ❤‍🔥 🌚 🌭 💯 🤣 ⚡ 🍌 🏆 💔 🤨 😐 🍓 🍾 💋 🖕 😈
😴 😭 🤓 👻 👨‍💻 👀 🎃 🙈 😇 😨 🤝 ✍ 🤗 🫡 🎅 🎄 ☃ 💅 🤪 🗿
🆒 💘 🙉 🦄 😘 💊 🙊 😎 👾 🤷‍♂ 🤷 🤷‍♀ 😡
"""
REACTIONS = frozenset(_EMOJI.split())


def post_ephemeral(ctx: Context, chat: JSON, params: JSON, content: JSON) -> JSON:
    """An ephemeral message from the bot for one member of a group."""
    if ctx.state.ephemeral_refused:
        raise ApiError.bad_request(UNSUPPORTED)
    spec = params.get("ephemeral_message_parameters")
    receiver = spec.get("receiver_user_id") if isinstance(spec, dict) else None
    if isinstance(receiver, bool) or not isinstance(receiver, int):
        raise ApiError.bad_request("receiver_user_id is required")
    if chat["type"] not in ("group", "supergroup"):
        raise ApiError.bad_request("ephemeral messages can be sent to groups only")
    # A reply to a group message, shown to the receiver under the message it answers.
    reply = reply_target(ctx, chat, params)
    with ctx.state.lock:
        ctx.state.ephemeral_seq += 1
        message: JSON = {
            "message_id": 0,
            "ephemeral_message_id": ctx.state.ephemeral_seq,
            "date": now(),
            "chat": chat,
            "from": ctx.bot_user,
            "receiver_user": make_user(receiver, "Member"),
            **content,
        }
        if params.get("message_thread_id"):
            message["message_thread_id"] = params["message_thread_id"]
        if reply is not None:
            message["reply_to_message"] = reply
        markup = inline_markup(params)
        if markup is not None:
            message["reply_markup"] = markup
        ctx.state.ephemeral[(int(chat["id"]), ctx.state.ephemeral_seq)] = message
        ctx.state.changed.notify_all()
        return copy.deepcopy(message)


def _addressed(ctx: Context, req: ApiRequest) -> JSON:
    chat = target_chat(ctx, req.params.get("chat_id"))
    key = (int(chat["id"]), req.params.get("ephemeral_message_id"))
    message = ctx.state.ephemeral.get(key)  # type: ignore[arg-type]
    receiver = req.params.get("receiver_user_id")
    if message is None or message["receiver_user"]["id"] != receiver:
        raise ApiError.bad_request("ephemeral message not found")
    return message


def _edited(ctx: Context, req: ApiRequest, changes: JSON) -> bool:
    if ctx.state.ephemeral_refused:
        raise ApiError.bad_request(UNSUPPORTED)
    with ctx.state.lock:
        message = _addressed(ctx, req)
        markup = inline_markup(req.params)
        message.update(changes)
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        message["edit_date"] = now()
        ctx.state.changed.notify_all()
    return True


@api_method("editEphemeralMessageText")
def edit_ephemeral_text(ctx: Context, req: ApiRequest) -> bool:
    text, entities = message_text(req.params)
    return _edited(ctx, req, {"text": text, "entities": entities} if entities else {"text": text})


@api_method("editEphemeralMessageCaption")
def edit_ephemeral_caption(ctx: Context, req: ApiRequest) -> bool:
    return _edited(ctx, req, caption_fields(req.params))


@api_method("editEphemeralMessageReplyMarkup")
def edit_ephemeral_markup(ctx: Context, req: ApiRequest) -> bool:
    return _edited(ctx, req, {})


@api_method("editEphemeralMessageMedia")
def edit_ephemeral_media(ctx: Context, req: ApiRequest) -> bool:
    media = req.params.get("media")
    if not isinstance(media, dict) or media.get("type") != "photo":
        raise ApiError.bad_request("only photos are supported by the fake API")
    photo = resolve_photo(ctx.state, req, media.get("media"), "media")
    return _edited(ctx, req, {"photo": photo, **caption_fields(media)})


@api_method("deleteEphemeralMessage")
def delete_ephemeral(ctx: Context, req: ApiRequest) -> bool:
    if ctx.state.ephemeral_refused:
        raise ApiError.bad_request(UNSUPPORTED)
    with ctx.state.lock:
        message = _addressed(ctx, req)
        del ctx.state.ephemeral[(int(message["chat"]["id"]), message["ephemeral_message_id"])]
        ctx.state.changed.notify_all()
    return True


@api_method("setMessageReaction")
def set_message_reaction(ctx: Context, req: ApiRequest) -> bool:
    chat = target_chat(ctx, req.params.get("chat_id"))
    message_id = req.params.get("message_id")
    if not isinstance(message_id, int) or ctx.state.get_message(chat["id"], message_id) is None:
        raise ApiError.bad_request("message to react not found")
    reaction = req.params.get("reaction") or []
    if not isinstance(reaction, list) or len(reaction) > 1:
        raise ApiError.bad_request("REACTIONS_TOO_MANY")
    emoji = [r.get("emoji") for r in reaction if isinstance(r, dict)]
    if any(r.get("type") != "emoji" for r in reaction) or any(e not in REACTIONS for e in emoji):
        raise ApiError.bad_request("REACTION_INVALID")
    with ctx.state.lock:
        ctx.state.reactions[(int(chat["id"]), message_id)] = [str(e) for e in emoji]
        ctx.state.changed.notify_all()
    return True
