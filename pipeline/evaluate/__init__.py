"""Evaluate base and finetuned models on the eval split and external medical VQA benchmarks."""

from pipeline.evaluate.config import BenchmarkSpec, EvalConfig
from pipeline.evaluate.runner import EvalResult, evaluate

__all__ = ["BenchmarkSpec", "EvalConfig", "EvalResult", "evaluate"]
