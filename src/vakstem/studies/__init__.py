"""Studies shipped with Vakstem (each a folder with its study file and data)."""
