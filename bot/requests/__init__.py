"""A request for pictures, from prompt to queued job: prompt checks, fair use, admission, the
input picture, the RQ job with its record, and the "In queue" status.

May import `bot.community` (bans, chat rules), `bot.outbound` (chat actions, pacing),
`bot.shared`, `bot.metrics`, `bot.config`, `bot.texts` and `common/`.
"""
