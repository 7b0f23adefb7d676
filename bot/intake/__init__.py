"""Updates in, nothing lost at the door: long polling or the webhook records each update in
the inbox stream, and the consumer feeds it to the dispatcher and acknowledges it after.

May import `bot.shared`, `bot.config` and `common/`; it knows nothing of what handlers do.
"""
