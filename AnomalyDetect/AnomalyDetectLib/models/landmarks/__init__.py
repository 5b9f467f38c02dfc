"""Anatomical-landmark classifier on 2.5D patches (after Nemoto): see README.md in this folder."""

from .method import METHOD, LandmarkClassifier

__all__ = ["METHOD", "LandmarkClassifier"]
