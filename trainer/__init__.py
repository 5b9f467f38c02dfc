"""Headless training and evaluation of AnomalyDetect models: ``python -m trainer --help``."""
