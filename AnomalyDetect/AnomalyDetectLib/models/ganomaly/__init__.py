"""GANomaly (Akçay, Atapour-Abarghouei, Breckon, ACCV 2018): see README.md in this folder."""

from .method import METHOD, Ganomaly

__all__ = ["METHOD", "Ganomaly"]
