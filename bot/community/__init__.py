"""Community control: bans, pause, languages and counters; each chat's own settings, who its
admins are, what its rules let a request do, and the /settings panel.

May import `bot.shared`, `bot.config`, `bot.texts` and `common/`.
"""
