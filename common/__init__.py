"""Code shared by the bot and the worker: settings sections and the queue protocol.

Nothing here may import aiogram or torch: both processes import it.
"""
