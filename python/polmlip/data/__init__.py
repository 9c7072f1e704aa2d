"""Data: neighbour graphs from ASE Atoms, batching, extxyz datasets."""

from .graph import atoms_to_graph, collate

__all__ = ["atoms_to_graph", "collate"]
