"""Telegram's limits on what the bot sends: the send budget shared by every bot process, the
pacer that makes each send wait its turn, and the chat action shown while drawing.

May import `bot.shared`, `bot.metrics`, `bot.config` and `common/`.
"""
