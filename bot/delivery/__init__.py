"""Results out: the results stream read and each finished job sent to its chat once (photo,
album, file, inline answer or edited photo), the chat's safety policy applied on the way, and
the sweep that recovers what nobody sends.

May import `bot.play` (buttons, edit records), `bot.requests` (job records, fair use),
`bot.community`, `bot.outbound`, `bot.shared`, `bot.metrics`, `bot.config`, `bot.texts`.
"""
