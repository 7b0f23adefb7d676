"""Component configs for the random-weight SDXL Turbo pipelines in `testing.synthetic`.

`FULL` mirrors the config.json files published in stabilityai/sdxl-turbo; `TINY` keeps the
same block types, conditioning wiring and 8x VAE so that only widths and depths shrink.
"""

from typing import Any

Config = dict[str, Any]

# scheduler/scheduler_config.json of sdxl-turbo, minus keys EulerAncestral does not accept
# (clip_sample, set_alpha_to_one, skip_prk_steps, ...), which diffusers would only warn about.
SCHEDULER: Config = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "trained_betas": None,
    "prediction_type": "epsilon",
    "timestep_spacing": "trailing",
    "steps_offset": 1,
}

_SDXL_UNET: Config = {
    "sample_size": 64,  # 64x64 latents: the pipeline's default size is 512x512, as for turbo
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "layers_per_block": 2,
    "act_fn": "silu",
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "norm_eps": 1e-5,
    "use_linear_projection": True,
    "addition_embed_type": "text_time",
    "addition_embed_type_num_heads": 64,
    "upcast_attention": False,
}

# CLIP text configs keep the historical bos=0/eos=2 ids of the published configs: with eos 2,
# CLIPTextModel pools at argmax(input_ids), which is <|endoftext|> because our vocab puts it last.
_CLIP_TEXT: Config = {
    "max_position_embeddings": 77,
    "layer_norm_eps": 1e-5,
    "bos_token_id": 0,
    "eos_token_id": 2,
    "pad_token_id": 1,
}

_SDXL_VAE: Config = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "latent_channels": 4,
    "act_fn": "silu",
    "scaling_factor": 0.13025,
}

FULL: dict[str, Config] = {
    "unet": _SDXL_UNET
    | {
        "block_out_channels": (320, 640, 1280),
        "attention_head_dim": (5, 10, 20),  # diffusers' name for the number of heads
        "transformer_layers_per_block": (1, 2, 10),
        "cross_attention_dim": 2048,  # 768 (text_encoder) + 1280 (text_encoder_2)
        "addition_time_embed_dim": 256,
        "projection_class_embeddings_input_dim": 2816,  # 6 time ids * 256 + 1280 pooled
        "norm_num_groups": 32,
    },
    # CLIP ViT-L/14 text tower
    "text_encoder": _CLIP_TEXT
    | {
        "vocab_size": 49408,
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "projection_dim": 768,
        "hidden_act": "quick_gelu",
    },
    # OpenCLIP ViT-bigG/14 text tower
    "text_encoder_2": _CLIP_TEXT
    | {
        "vocab_size": 49408,
        "hidden_size": 1280,
        "intermediate_size": 5120,
        "num_hidden_layers": 32,
        "num_attention_heads": 20,
        "projection_dim": 1280,
        "hidden_act": "gelu",
    },
    "vae": _SDXL_VAE
    | {
        "block_out_channels": (128, 256, 512, 512),
        "layers_per_block": 2,
        "norm_num_groups": 32,
        "sample_size": 512,
        "force_upcast": True,  # the real SDXL VAE overflows in fp16
    },
}

_TINY_VOCAB = 2 * 256 + 2  # byte tokens, byte</w> tokens, <|startoftext|>, <|endoftext|>

TINY: dict[str, Config] = {
    "unet": _SDXL_UNET
    | {
        "block_out_channels": (16, 32, 64),
        "layers_per_block": 1,
        "attention_head_dim": (1, 2, 4),
        "transformer_layers_per_block": (1, 1, 1),
        "cross_attention_dim": 64,  # 32 + 32
        "addition_time_embed_dim": 8,
        "projection_class_embeddings_input_dim": 80,  # 6 * 8 + 32
        "norm_num_groups": 8,
    },
    "text_encoder": _CLIP_TEXT
    | {
        "vocab_size": _TINY_VOCAB,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,  # the pipeline reads hidden_states[-2]
        "num_attention_heads": 4,
        "projection_dim": 32,
        "hidden_act": "quick_gelu",
    },
    "text_encoder_2": _CLIP_TEXT
    | {
        "vocab_size": _TINY_VOCAB,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "projection_dim": 32,
        "hidden_act": "gelu",
    },
    "vae": _SDXL_VAE
    | {
        "block_out_channels": (8, 8, 16, 16),  # 4 levels: vae_scale_factor 8, as in SDXL
        "layers_per_block": 1,
        "norm_num_groups": 4,
        "sample_size": 512,
        # Upcasting only matters in fp16 and would just add casts to a random VAE.
        "force_upcast": False,
    },
}

PRESETS: dict[str, dict[str, Config]] = {"tiny": TINY, "full": FULL}
