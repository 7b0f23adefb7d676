"""A tiny MarianMT translator with random weights, shaped like Helsinki-NLP/opus-mt-ru-en.

Its SentencePiece vocabularies are trained here, on a few lines of Russian and English, and
the model is written with `save_pretrained` so that the worker loads it through
`TRANSLATE_MODEL_ID` like the published one. With `word` set, the output layer's bias makes
every translation that word repeated up to the token limit ("fox fox fox ..."): random
weights, yet an answer a test can predict and check for Cyrillic.

    python -m testing.translate_models DIR [--word fox] [--preset tiny|full]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Literal

import sentencepiece as spm
import torch
from transformers import MarianConfig, MarianMTModel, MarianTokenizer

Preset = Literal["tiny", "full"]

_CORPUS = [
    "рыжая лиса в снегу",
    "маяк на скале на закате",
    "кот в шляпе сидит на крыше",
    "зимний лес и река",
    "портрет девушки в стиле аниме",
    "a red fox in the snow",
    "a lighthouse on a cliff at sunset",
    "a cat in a hat sits on a roof",
    "winter forest and river",
    "portrait of a girl in anime style",
]
# opus-mt-ru-en's shape for `full` (same FLOPs); a few thousand weights for `tiny`.
_SHAPES: dict[str, dict[str, int]] = {
    "tiny": {
        "d_model": 32,
        "encoder_layers": 1,
        "decoder_layers": 1,
        "encoder_attention_heads": 2,
        "decoder_attention_heads": 2,
        "encoder_ffn_dim": 64,
        "decoder_ffn_dim": 64,
    },
    "full": {
        "d_model": 512,
        "encoder_layers": 6,
        "decoder_layers": 6,
        "encoder_attention_heads": 8,
        "decoder_attention_heads": 8,
        "encoder_ffn_dim": 2048,
        "decoder_ffn_dim": 2048,
    },
}
_FULL_VOCAB = 62_518


def _train_spm(directory: Path, name: str, size: int) -> Path:
    corpus = directory / f"{name}.txt"
    corpus.write_text("\n".join(_CORPUS * 20), encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(directory / name),
        vocab_size=size,
        hard_vocab_limit=False,
        character_coverage=1.0,
        model_type="unigram",
        bos_id=-1,
        eos_id=-1,
        unk_id=0,
        pad_id=-1,
        minloglevel=3,
    )
    return directory / f"{name}.model"


def build_translator(
    preset: Preset = "tiny", word: str | None = None, seed: int = 0
) -> tuple[MarianMTModel, MarianTokenizer]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = _train_spm(work, "source", 120)
        target = _train_spm(work, "target", 120)
        pieces: dict[str, int] = {"</s>": 0, "<unk>": 1}
        for model in (source, target):
            processor = spm.SentencePieceProcessor(model_file=str(model))
            for index in range(processor.get_piece_size()):
                pieces.setdefault(processor.id_to_piece(index), len(pieces))
        if word is not None:
            # Decoded through the target model's piece strings, known to it or not.
            pieces.setdefault(f"▁{word}", len(pieces))
        if preset == "full":
            pieces.update(
                {f"<filler{i}>": len(pieces) for i in range(_FULL_VOCAB - len(pieces) - 1)}
            )
        pieces["<pad>"] = len(pieces)
        vocab = work / "vocab.json"
        vocab.write_text(json.dumps(pieces, ensure_ascii=False), encoding="utf-8")
        tokenizer = MarianTokenizer(
            source_spm=str(source), target_spm=str(target), vocab=str(vocab)
        )
    torch.manual_seed(seed)
    config = MarianConfig(
        vocab_size=len(pieces),
        pad_token_id=pieces["<pad>"],
        eos_token_id=pieces["</s>"],
        decoder_start_token_id=pieces["<pad>"],
        forced_eos_token_id=pieces["</s>"],
        max_position_embeddings=512,
        **_SHAPES[preset],
    )
    model = MarianMTModel(config).eval()
    if word is not None:
        favoured = pieces[f"▁{word}"]
        with torch.no_grad():
            model.final_logits_bias.zero_()
            model.final_logits_bias[0, favoured] = 1e4
    return model, tokenizer


def save_translator(
    directory: Path, preset: Preset = "tiny", word: str | None = None, seed: int = 0
) -> Path:
    model, tokenizer = build_translator(preset, word, seed)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--preset", choices=sorted(_SHAPES), default="tiny")
    parser.add_argument("--word", default=None)
    args = parser.parse_args()
    print(save_translator(args.directory, args.preset, args.word))


if __name__ == "__main__":
    main()
