"""Finetune an InternVL model (transformers-native) on the exported instruction data."""

from pipeline.train.config import LoraSettings, TinySettings, TrainConfig
from pipeline.train.loop import TrainResult, train

__all__ = ["LoraSettings", "TinySettings", "TrainConfig", "TrainResult", "train"]
