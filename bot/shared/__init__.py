"""Values every feature passes around: who asked (`Origin`), what came of a send (`Outcome`),
the languages on offer (`LANGUAGES`) and the bounded tasks the stream loops run (`Running`).

The bottom of `bot/`: imports only `bot.config`, `bot.texts` and `common/`, so every package
above may use it without tying itself to another.
"""
