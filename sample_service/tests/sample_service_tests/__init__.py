"""Tests of the sample service.

A package with a unique name: pytest's importlib mode would otherwise name these
modules after their path (sample_service.tests...) and shadow the real package.
"""
