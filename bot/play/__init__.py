"""Playing with pictures: the buttons under a photo, inline mode, and edited prompts that
redraw their picture in place (with the records that make that possible).

May import `bot.requests` (every play action is a request), `bot.shared`, `bot.config`,
`bot.texts` and `common/`.
"""
