"""GPU worker: keeps one SDXL Turbo pipeline warm and runs generation jobs from RQ."""
