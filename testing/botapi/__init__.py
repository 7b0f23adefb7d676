"""A real-HTTP fake of the Telegram Bot API for tests (see ``server.FakeBotAPI``)."""

from .core import ApiError, Call, Fault, Upload
from .flood import Flood
from .server import DEFAULT_TOKEN, FakeBotAPI

__all__ = ["DEFAULT_TOKEN", "ApiError", "Call", "FakeBotAPI", "Fault", "Flood", "Upload"]
