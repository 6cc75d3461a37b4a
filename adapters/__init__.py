"""Adapters: each implements a port defined in router/."""
