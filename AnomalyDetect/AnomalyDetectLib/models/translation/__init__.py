"""Translation-based anomaly detection (Chen lab, Ritsumeikan University): see README.md in this folder."""

from .method import METHOD, Translation

__all__ = ["METHOD", "Translation"]
